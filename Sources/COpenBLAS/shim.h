#ifndef MPQ_COPENBLAS_SHIM_H
#define MPQ_COPENBLAS_SHIM_H
#include <cblas.h>
/* OpenBLAS extensions for explicit thread control. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
/* The kernel family a DYNAMIC_ARCH build picked for this CPU (e.g. "Haswell", "SkylakeX"). */
char *openblas_get_corename(void);

/* The vector extensions this build's own code was compiled for (`-Xcc -march=native` turns them on): the
   native engine's SIMD kernels are only fast when FMA is a machine instruction. */
static inline int mpq_build_vector_level(void) {
#if defined(__AVX512F__) && defined(__FMA__)
    return 2;
#elif defined(__AVX2__) && defined(__FMA__)
    return 1;
#else
    return 0;
#endif
}
#endif
