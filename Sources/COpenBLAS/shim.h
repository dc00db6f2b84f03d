#ifndef MPQ_COPENBLAS_SHIM_H
#define MPQ_COPENBLAS_SHIM_H
#include <cblas.h>
/* OpenBLAS extensions for explicit thread control. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
/* The kernel family a DYNAMIC_ARCH build picked for this CPU (e.g. "Haswell", "SkylakeX"). */
char *openblas_get_corename(void);
#endif
