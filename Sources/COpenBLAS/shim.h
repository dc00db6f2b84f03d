#ifndef MPQ_COPENBLAS_SHIM_H
#define MPQ_COPENBLAS_SHIM_H
#include <cblas.h>
/* OpenBLAS extensions for explicit thread control. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
