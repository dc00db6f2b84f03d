#ifndef MPQ_CLIBXML2_SHIM_H
#define MPQ_CLIBXML2_SHIM_H
#include <libxml/xmlversion.h>
/* Debian's libxml2 is built with ICU, so encoding.h would include the system <unicode/ucnv.h>, whose enums
   clash with the ICU copy Foundation ships (_FoundationICU) in any Swift module importing both. Swift never
   touches xmlCharEncodingHandler (the only struct with ICU fields, reached through pointers only), so the
   ICU part of the headers is left out. */
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

/// `xmlFree` is a mutable C global (a function pointer) that Swift 6 rejects; call it through here.
static inline void mpq_xmlFree(void *p) { xmlFree(p); }
#endif
