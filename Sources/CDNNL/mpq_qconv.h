// Integer convolution for AVX2 CPUs without VNNI, with 16-bit partial sums (internal to CDNNL; see mpq_qconv.c).
#ifndef MPQ_QCONV_H
#define MPQ_QCONV_H
#include <stddef.h>
#include <stdint.h>

typedef struct mpq_qconv mpq_qconv;

/// 1 when this CPU can run the kernels (AVX2).
int mpq_qconv_supported(void);

/// How many 4-channel steps may add up in 16 bits before they must be widened to 32 (u8 codes up to 255 times s8
/// codes up to `max_abs_code` in magnitude, two products per 16-bit lane and step). Below 4 the kernel gains
/// nothing over oneDNN's and is not used.
int mpq_qconv_steps_per_flush(int max_abs_code);

/// An ungrouped conv `ic -> oc` over a u8 NHWC source `[h, w, ic]` (codes minus `zero_point` are the values;
/// padding holds the zero point's code) into `[oh, ow, oc]`, weights s8 PyTorch `[oc, ic, kh, kw]` with every
/// |code| small enough that `mpq_qconv_steps_per_flush` is at least 4. The output, per channel `o` with the exact
/// s32 sum `acc`, is what `mpq_dnnl_conv_int8` asks of oneDNN, computed the way oneDNN computes it:
///   f32 destination: `y = (acc + bias[o] / scales[o]) * scales[o]`, `+ dst` with `accumulate`, the activation,
///                    then with `out_scale > 0` `out_scale * clip(round_even(y * (1 / out_scale)), qmin, qmax)`;
///   u8 destination (`codes_out`): `s = scales[o] / out_scale`, `u8(round_even(clip((acc + bias[o] / scales[o]) *
///                    s, lo, hi)))` with `lo = out_qmin`, `hi = min(out_qmax, 6 / out_scale)` for ReLU6 else
///                    `out_qmax`.
/// NULL when out of memory or the conv does not fit.
mpq_qconv *mpq_qconv_create(int ic, int oc, int h, int w, int kh, int kw, int stride, int padding, int dilation,
                            const int8_t *weight, const float *scales, const float *bias, int zero_point,
                            int activation, int accumulate, int codes_out, float out_scale, float out_qmin,
                            float out_qmax);
void mpq_qconv_destroy(mpq_qconv *c);

/// 1 when the conv's output is `[oh, ow, oc]` (the destination tensor's shape).
int mpq_qconv_output_fits(const mpq_qconv *c, int oc, int oh, int ow);

/// A run is two phases, each split into `parts` (the caller runs the parts on its threads; every part of the first
/// phase must finish before the second starts): `mpq_qconv_pad_part` copies rows of `src` into the padded copy
/// (nothing when `mpq_qconv_pads` is 0), then `mpq_qconv_run_part` computes its share of the output. Integer sums
/// are exact and the epilogue is per element, so the output does not depend on `parts`.
int mpq_qconv_pads(const mpq_qconv *c);
void mpq_qconv_pad_part(const mpq_qconv *c, const uint8_t *src, int part, int parts);
void mpq_qconv_run_part(const mpq_qconv *c, const uint8_t *src, void *dst, int part, int parts);

/// Bytes held (packed weights, the padded source copy, per-channel constants).
size_t mpq_qconv_bytes(const mpq_qconv *c);

#endif
