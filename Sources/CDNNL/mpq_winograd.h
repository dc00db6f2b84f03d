// Winograd F(2x2, 3x3) float convolution over NHWC activations (internal to CDNNL; see mpq_winograd.c).
#ifndef MPQ_WINOGRAD_H
#define MPQ_WINOGRAD_H
#include <stddef.h>

typedef struct mpq_wino mpq_wino;

/// 1 when this CPU can run the kernels (AVX2 and FMA).
int mpq_wino_supported(void);

/// A 3x3, stride 1, padding 1, dilation 1, ungrouped conv `ic -> oc` on `h x w` images, `weight` PyTorch's
/// `[oc, ic, 3, 3]`, `bias` `[oc]` or NULL, `activation` one of `MPQ_DNNL_IDENTITY/RELU/RELU6`, for up to
/// `threads` threads. Needs `ic % 8 == 0` (any `oc`). NULL when out of memory or the shape does not fit.
mpq_wino *mpq_wino_create(int ic, int oc, int h, int w, const float *weight, const float *bias, int activation,
                          int threads);
void mpq_wino_destroy(mpq_wino *c);

/// `dst[h, w, oc] <- act(conv(src[h, w, ic]) + bias)` on the calling thread's share `part` of `parts` (the
/// output does not depend on `parts`: every tile's arithmetic is fixed by the shape alone).
void mpq_wino_run_part(const mpq_wino *c, const float *src, float *dst, int part, int parts);

/// Bytes held (transformed weights and the per-thread buffers).
size_t mpq_wino_bytes(const mpq_wino *c);

#endif
