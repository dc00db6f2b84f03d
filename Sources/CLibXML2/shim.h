#ifndef MPQ_CLIBXML2_SHIM_H
#define MPQ_CLIBXML2_SHIM_H
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

/// `xmlFree` is a mutable C global (a function pointer) that Swift 6 rejects; call it through here.
static inline void mpq_xmlFree(void *p) { xmlFree(p); }
#endif
