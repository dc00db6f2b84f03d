#ifndef MPQ_DNNL_H
#define MPQ_DNNL_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A fixed sequence of oneDNN primitives over float32 NHWC activations `[1, C, H, W]` (a forward pass
/// compiled once per network and weights). Tensors live in slots: tensors of one slot share storage (sized to
/// the largest), so a network ping-pongs between a few buffers; an external tensor (slot < 0) has no storage of
/// its own and gets a caller pointer before each run (`mpq_dnnl_set_data`).
///
/// Every function returning int returns >= 0 on success and -1 on failure, with a message in `err`.
/// Not thread-safe: one program per concurrent caller.
typedef struct mpq_dnnl_program mpq_dnnl_program;

enum { MPQ_DNNL_IDENTITY = 0, MPQ_DNNL_RELU = 1, MPQ_DNNL_RELU6 = 2 };
/// Element types of tensors.
enum { MPQ_DNNL_F32 = 0, MPQ_DNNL_U8 = 1, MPQ_DNNL_S8 = 2 };

/// A program whose primitives run on `threads` OpenMP threads (oneDNN fixes each primitive's work split when it
/// is created, so the thread count belongs to the program).
mpq_dnnl_program *mpq_dnnl_create(int threads, char *err, size_t errlen);
void mpq_dnnl_destroy(mpq_dnnl_program *p);

/// A tensor `[1, c, h, w]`, NHWC (channels fastest). Returns its id.
int mpq_dnnl_tensor(mpq_dnnl_program *p, int slot, int c, int h, int w, char *err, size_t errlen);

/// A tensor of element type `dtype` (`MPQ_DNNL_F32`, `MPQ_DNNL_U8`, `MPQ_DNNL_S8`), NHWC. Returns its id.
int mpq_dnnl_tensor_typed(mpq_dnnl_program *p, int slot, int c, int h, int w, int dtype, char *err, size_t errlen);

/// The integer conv: `dst <- act(scales[o] · Σ src·weight + bias[o])` (s32 accumulation), or with `accumulate`
/// `+ dst` before the activation. `src` is a u8 tensor, `dst` float; `weight` is s8
/// `[oc, ic / groups, kh, kw]`, `scales` `[oc]`, `bias` `[oc]` or NULL; `src_zero_point` is subtracted from every
/// source code (padding included). With `out_scale > 0` the output is also fake-quantized for its reader,
/// `out_scale · clip(round(y / out_scale), out_qmin, out_qmax)` (ties to even). A u8 `dst` (no `accumulate`)
/// receives its reader's codes instead, `clip(round(y / out_scale), out_qmin, out_qmax)` with `0 <= out_qmin`.
/// Returns the step index.
int mpq_dnnl_conv_int8(mpq_dnnl_program *p, int src, int dst, const int8_t *weight, const float *scales,
                       const float *bias, int src_zero_point, int groups, int kh, int kw, int stride, int padding,
                       int dilation, int activation, int accumulate, float out_scale, float out_qmin, float out_qmax,
                       char *err, size_t errlen);

/// 1 when the CPU has VNNI (u8·s8 products accumulated in s32 directly); without it oneDNN's int8 kernels add
/// pairs of products in s16 with saturation, so exactness needs |x|·|w|·2 <= 32767.
int mpq_dnnl_has_vnni(void);

/// `dst <- act(conv(src) + bias)`, or with `accumulate` `dst <- act(conv(src) + bias + dst)` (the residual add
/// fused into the conv; the activation must then be identity). `weight` is PyTorch's `[oc, ic / groups, kh, kw]`
/// (copied and reordered here), `bias` `[oc]` or NULL. Returns the step index.
int mpq_dnnl_conv(mpq_dnnl_program *p, int src, int dst, const float *weight, const float *bias,
                  int groups, int kh, int kw, int stride, int padding, int dilation, int activation,
                  int accumulate, char *err, size_t errlen);

/// Winograd F(2x2, 3x3): our own AVX2 + FMA float conv for 3x3, stride 1, padding 1, ungrouped convs with
/// `ic % 8 == 0` and no residual add, 2.25x fewer multiplications than a direct conv (mpq_winograd.c).
/// 1 when this CPU can run it.
int mpq_dnnl_winograd_supported(void);
/// 1 when it is the better choice here: supported, and oneDNN may not use AVX-512 (whose direct convs are faster).
int mpq_dnnl_winograd_preferred(void);
/// 1 when a conv of this shape can run as Winograd.
int mpq_dnnl_winograd_fits(int ic, int oc, int groups, int kh, int kw, int stride, int padding, int dilation,
                           int accumulate);
/// With `on` (and a supported CPU), float convs added afterwards (`mpq_dnnl_conv`) that fit run as Winograd.
void mpq_dnnl_set_winograd(mpq_dnnl_program *p, int on);

/// Integer convs with 16-bit partial sums: our own AVX2 kernels (mpq_qconv.c) for ungrouped int8 convs whose
/// weight codes are small (4-bit codes: 8 steps of 4 channels add up exactly in 16 bits before widening), about
/// twice the multiply rate of oneDNN's kernels on CPUs without VNNI. 1 when this CPU can run them.
int mpq_dnnl_int8_s16_supported(void);
/// 1 when they are the better choice here: supported, and oneDNN's int8 kernels have no VNNI.
int mpq_dnnl_int8_s16_preferred(void);
/// Steps of 4 channels that add up exactly in 16 bits for codes up to `max_abs_code` in magnitude; the kernels
/// take a conv when this is at least 4 (|code| <= 16).
int mpq_dnnl_int8_s16_steps(int max_abs_code);
/// Which integer convs added afterwards (`mpq_dnnl_conv_int8`; u8 source, no groups, small codes) run as these
/// kernels on a supported CPU: none, those with at least `MPQ_DNNL_S16_MIN_STEPS` steps of 4 input channels per
/// output (`kh · kw · ⌈ic / 4⌉`; measured on Zen 3: below it, layers with few channels at high resolution, oneDNN
/// is faster, up to 2x; above it ours, 1.05–1.3x), or every one (for tests).
enum { MPQ_DNNL_S16_OFF = 0, MPQ_DNNL_S16_FASTER = 1, MPQ_DNNL_S16_ALL = 2, MPQ_DNNL_S16_MIN_STEPS = 64 };
void mpq_dnnl_set_int8_s16(mpq_dnnl_program *p, int mode);

/// Max pooling with explicit padding per side (pads never win). Returns the step index.
int mpq_dnnl_max_pool(mpq_dnnl_program *p, int src, int dst, int kernel, int stride,
                      int pad_top, int pad_left, int pad_bottom, int pad_right, char *err, size_t errlen);

/// Allocates the slots' storage; call once after the last step is added.
int mpq_dnnl_finalize(mpq_dnnl_program *p, char *err, size_t errlen);

/// A tensor's storage (internal tensors, after finalize) or the pointer last set (external tensors).
float *mpq_dnnl_data(mpq_dnnl_program *p, int tensor);
void mpq_dnnl_set_data(mpq_dnnl_program *p, int tensor, float *data);
/// A tensor's storage as bytes (any element type).
void *mpq_dnnl_bytes_of(mpq_dnnl_program *p, int tensor);

/// Runs step `step` (on the program's threads).
int mpq_dnnl_execute(mpq_dnnl_program *p, int step, char *err, size_t errlen);

/// The implementation oneDNN chose for a step (e.g. "brgconv:avx512_core").
const char *mpq_dnnl_implementation(mpq_dnnl_program *p, int step);

/// Bytes held by the program (slots, weights, scratchpad).
size_t mpq_dnnl_bytes(mpq_dnnl_program *p);

/// u8 codes of an integer conv's input: `clamp(round(x / scale), qmin, qmax) + zp`, ties away from zero (the
/// rounding of the float engines' fake quantization); a non-positive scale gives `zp`.
void mpq_quantize_u8(const float *x, uint8_t *y, size_t n, float scale, float qmin, float qmax, int zp);
/// The same per pixel over gathered channels: `y[p, i] = code(x[p, map[i]])` (`channels` floats per input pixel,
/// `count` codes per output pixel).
void mpq_quantize_gather_u8(const float *x, uint8_t *y, size_t pixels, int channels, const int32_t *map, int count,
                            float scale, float qmin, float qmax, int zp);
/// A multipoint integer conv's rows summed per channel (rows point-major: rows `0..<o` one per channel, row
/// `o + j` adds to channel `extra[j]`), plus bias, plus `y` with `accumulate`, then the activation, into `y`; with
/// `fq_scale > 0` the result is then fake-quantized for its (float) reader, as `mpq_fake_quantize` does.
/// A pixel's rows are `stride >= r` floats apart (zero rows padding the conv's row count sit after the `r` rows).
void mpq_sum_rows(const float *rows, float *y, size_t pixels, int o, int r, int stride, const int32_t *extra,
                  const float *bias, int activation, int accumulate, float fq_scale, float fq_qmin, float fq_qmax);
/// The same sum (no accumulation) written as its int8 reader's u8 codes `clamp(round(v / scale), qmin, qmax)`,
/// `0 <= qmin`, ties away from zero as `mpq_quantize_u8`; `o <= 4096`.
void mpq_sum_rows_codes(const float *rows, uint8_t *codes, size_t pixels, int o, int r, int stride,
                        const int32_t *extra, const float *bias, int activation, float scale, float qmin, float qmax);
/// Fake quantization `y = scale · clamp(round(x / scale), qmin, qmax)` (ties away from zero), bit for bit the
/// scalar Swift `InputQuantization.Grid.apply`; `x` and `y` may be the same buffer.
void mpq_fake_quantize(const float *x, float *y, size_t n, float scale, float qmin, float qmax);

#ifdef __cplusplus
}
#endif
#endif
