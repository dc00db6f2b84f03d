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

/* Some libxml2 errors carry no parser context (an encoding conversion that fails, "encoding error : input
   conversion failed") and go to the generic handler, which prints to stderr. It is per thread: a parse silences it
   for its own thread only and puts the previous one back afterwards (Swift cannot write a variadic C callback). */
static inline void mpq_xml_silent(void *ctx, const char *msg, ...) { (void)ctx; (void)msg; }
typedef struct { xmlGenericErrorFunc func; void *ctx; } mpq_xml_generic_error;
static inline mpq_xml_generic_error mpq_xml_silence_generic_errors(void) {
    mpq_xml_generic_error previous = { xmlGenericError, xmlGenericErrorContext };
    xmlSetGenericErrorFunc(NULL, mpq_xml_silent);
    return previous;
}
static inline void mpq_xml_restore_generic_errors(mpq_xml_generic_error previous) {
    xmlSetGenericErrorFunc(previous.ctx, previous.func);
}
#endif
