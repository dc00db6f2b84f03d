// Integer convolution for AVX2 CPUs without VNNI, with 16-bit partial sums (see mpq_qconv.h and
// docs/int8-engine.md).
//
// Without VNNI an int8 dot product on AVX2 is `vpmaddubsw` (32 u8 x s8 products, added in pairs into 16 s16
// lanes) followed by `vpmaddwd` by ones (pairs of s16 into s32) and `vpaddd`: two multiplier instructions per 32
// products, which is what oneDNN 2.6's `jit_uni_int8:avx2` kernels do. With low-bit weights the s16 lanes cannot
// overflow for several steps: a lane gains at most 2 · 255 · max|w| per step, so `32767 / (510 · max|w|)` steps
// (8 for 4-bit codes, 16 for 3-bit) add up exactly in s16 (`vpaddw`) before one `vpmaddwd` widens them. That is
// close to one multiplier instruction per 32 products, about twice oneDNN's rate. Sums stay exact integers.
//
// Layout: the source is NHWC u8; a padded copy (borders and channels up to a multiple of 4 hold the zero point's
// code, set once) makes every tap's address a constant offset from its output pixel's base, so one table of
// offsets serves all pixels. A step is one tap and 4 input channels; weights are packed per 16-channel output
// panel as [step][16 channels][4 bytes]. The kernel computes 6 output pixels x 16 channels (12 s16 accumulators,
// 2 weight registers, 1 broadcast). A run is two phases of parts (mpq_dnnl.c runs them on its threads): rows of the
// padded copy, then ranges of (panel, 48-pixel chunk) items; a pixel's arithmetic does not depend on which part
// computes it, so the output is the same for any thread count.
#include "mpq_qconv.h"
#include "mpq_dnnl.h"
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TARGET __attribute__((target("avx2")))
enum { MR = 6, CHUNK_BLOCKS = 8 };

struct mpq_qconv {
    int ic, oc, h, w, oh, ow, kh, kw, stride, pad, dil, icp, hp, wp, steps, flush, panels, pixels, chunks;
    int zp, activation, accumulate, codes_out, copy, panel_major;
    float out_scale, inv_out, lo, hi;
    uint8_t *padded;   /* [hp][wp][icp] when `copy` */
    int8_t *wpack;     /* [panels][steps][16][4] */
    int32_t *off;      /* [steps] byte offset of a step's 4 source codes from the pixel's base */
    int32_t *comp;     /* [panels * 16] zero point x sum of the channel's weights */
    float *biasp;      /* [panels * 16] bias / scale */
    float *scalep;     /* [panels * 16] scale (divided by out_scale for codes) */
};

int mpq_qconv_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

int mpq_qconv_steps_per_flush(int max_abs_code) {
    if (max_abs_code < 1) max_abs_code = 1;
    return 32767 / (2 * 255 * max_abs_code);
}

static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

void mpq_qconv_destroy(mpq_qconv *c) {
    if (!c) return;
    free(c->padded); free(c->wpack); free(c->off); free(c->comp); free(c->biasp); free(c->scalep);
    free(c);
}

mpq_qconv *mpq_qconv_create(int ic, int oc, int h, int w, int kh, int kw, int stride, int padding, int dilation,
                            const int8_t *weight, const float *scales, const float *bias, int zero_point,
                            int activation, int accumulate, int codes_out, float out_scale, float out_qmin,
                            float out_qmax) {
    if (ic < 1 || oc < 1 || h < 1 || w < 1 || kh < 1 || kw < 1 || stride < 1 || padding < 0 || dilation < 1
        || zero_point < 0 || zero_point > 255 || !mpq_qconv_supported()) return NULL;
    if (codes_out && (accumulate || !(out_scale > 0))) return NULL;
    int hp = h + 2 * padding, wp = w + 2 * padding;
    int oh = (hp - dilation * (kh - 1) - 1) / stride + 1, ow = (wp - dilation * (kw - 1) - 1) / stride + 1;
    if (oh < 1 || ow < 1) return NULL;
    int max_abs = 0;
    size_t nw = (size_t)oc * ic * kh * kw;
    for (size_t i = 0; i < nw; i++) { int a = abs((int)weight[i]); if (a > max_abs) max_abs = a; }
    int flush = mpq_qconv_steps_per_flush(max_abs);
    if (flush < 4) return NULL;
    /* Tap offsets are int32 (far beyond any SSD layer; larger ones stay on oneDNN). */
    size_t icp4 = (size_t)(ic + 3) / 4 * 4;
    if (((size_t)(kh - 1) * dilation * wp + (size_t)(kw - 1) * dilation + 1) * icp4 > INT32_MAX) return NULL;

    mpq_qconv *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ic = ic; c->oc = oc; c->h = h; c->w = w; c->oh = oh; c->ow = ow; c->kh = kh; c->kw = kw;
    c->stride = stride; c->pad = padding; c->dil = dilation;
    c->icp = (ic + 3) / 4 * 4; c->hp = hp; c->wp = wp;
    c->steps = kh * kw * (c->icp / 4); c->flush = flush;
    c->panels = (oc + 15) / 16; c->pixels = oh * ow;
    int blocks = (c->pixels + MR - 1) / MR;
    c->chunks = (blocks + CHUNK_BLOCKS - 1) / CHUNK_BLOCKS;
    c->zp = zero_point; c->activation = activation; c->accumulate = accumulate; c->codes_out = codes_out;
    c->out_scale = out_scale; c->inv_out = out_scale > 0 ? 1.0f / out_scale : 0;
    c->lo = out_qmin; c->hi = out_qmax;
    if (codes_out && activation == MPQ_DNNL_RELU6 && 6.0f / out_scale < c->hi) c->hi = 6.0f / out_scale;
    c->copy = padding > 0 || c->icp != ic;
    c->panel_major = (size_t)c->panels * c->steps * 64 > 128 * 1024;
    size_t ocp = (size_t)c->panels * 16;
    c->wpack = alloc64((size_t)c->panels * c->steps * 64);
    c->off = malloc((size_t)c->steps * sizeof(int32_t));
    c->comp = calloc(ocp, sizeof(int32_t));
    c->biasp = calloc(ocp, sizeof(float));
    c->scalep = calloc(ocp, sizeof(float));
    if (c->copy) c->padded = alloc64((size_t)hp * wp * c->icp);
    if (!c->wpack || !c->off || !c->comp || !c->biasp || !c->scalep || (c->copy && !c->padded)) {
        mpq_qconv_destroy(c);
        return NULL;
    }
    /* Borders and extra channels hold the zero point's code; a run overwrites only the interior's channels. */
    if (c->copy) memset(c->padded, zero_point, (size_t)hp * wp * c->icp);
    memset(c->wpack, 0, (size_t)c->panels * c->steps * 64);
    int groups4 = c->icp / 4;
    for (int t = 0; t < kh * kw; t++) {
        int ky = t / kw, kx = t % kw;
        for (int g = 0; g < groups4; g++)
            c->off[t * groups4 + g] = (int32_t)(((size_t)(ky * dilation) * wp + (size_t)(kx * dilation)) * c->icp
                                                + 4 * (size_t)g);
    }
    for (int o = 0; o < oc; o++) {
        int8_t *panel = c->wpack + (size_t)(o / 16) * c->steps * 64;
        int lane = o % 16;
        int32_t sum = 0;
        for (int k = 0; k < ic; k++)
            for (int t = 0; t < kh * kw; t++) {
                int8_t v = weight[((size_t)o * ic + k) * kh * kw + t];
                panel[(size_t)(t * groups4 + k / 4) * 64 + lane * 4 + k % 4] = v;
                sum += v;
            }
        c->comp[o] = zero_point * sum;
        float s = scales[o];
        c->biasp[o] = bias && s != 0 ? bias[o] / s : 0;
        c->scalep[o] = codes_out ? s / out_scale : s;
    }
    return c;
}

int mpq_qconv_output_fits(const mpq_qconv *c, int oc, int oh, int ow) {
    return c->oc == oc && c->oh == oh && c->ow == ow;
}

size_t mpq_qconv_bytes(const mpq_qconv *c) {
    size_t ocp = (size_t)c->panels * 16;
    return (size_t)c->panels * c->steps * 64 + (size_t)c->steps * 4 + ocp * 12
        + (c->copy ? (size_t)c->hp * c->wp * c->icp : 0);
}

/* The exact sums of `np <= MR` pixels from `p0` on, for one panel of 16 output channels. */
TARGET static void sums(const mpq_qconv *c, const uint8_t *src, int panel, int p0, int np,
                        int32_t acc[MR][16]) {
    /* Pixel bases: one division for the block, then steps along the row (pixels past np repeat the last). */
    const uint8_t *base[MR];
    int oy = p0 / c->ow, ox = p0 % c->ow;
    for (int m = 0; m < MR; m++) {
        base[m] = src + ((size_t)(oy * c->stride) * c->wp + (size_t)(ox * c->stride)) * c->icp;
        if (m + 1 < np && ++ox == c->ow) { ox = 0; oy++; }
    }
    const int8_t *wq = c->wpack + (size_t)panel * c->steps * 64;
    const int32_t *off = c->off;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s[2 * MR];
    for (int i = 0; i < 2 * MR; i++) s[i] = _mm256_setzero_si256();
    for (int j0 = 0; j0 < c->steps; j0 += c->flush) {
        int j1 = j0 + c->flush < c->steps ? j0 + c->flush : c->steps;
        /* Pixel m's two 8-channel halves add up in t[2m], t[2m + 1] (16-bit lanes; fully unrolled, so registers). */
        __m256i t[2 * MR];
        for (int i = 0; i < 2 * MR; i++) t[i] = _mm256_setzero_si256();
        for (int j = j0; j < j1; j++) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)(wq + (size_t)j * 64));
            const __m256i w1 = _mm256_load_si256((const __m256i *)(wq + (size_t)j * 64 + 32));
            const int o = off[j];
#pragma clang loop unroll(full)
            for (int m = 0; m < MR; m++) {
                int32_t v;
                memcpy(&v, base[m] + o, 4);
                const __m256i x = _mm256_set1_epi32(v);
                t[2 * m] = _mm256_add_epi16(t[2 * m], _mm256_maddubs_epi16(x, w0));
                t[2 * m + 1] = _mm256_add_epi16(t[2 * m + 1], _mm256_maddubs_epi16(x, w1));
            }
        }
        for (int i = 0; i < 2 * MR; i++) s[i] = _mm256_add_epi32(s[i], _mm256_madd_epi16(t[i], ones));
    }
    for (int m = 0; m < MR; m++) {
        _mm256_storeu_si256((__m256i *)acc[m], s[2 * m]);
        _mm256_storeu_si256((__m256i *)(acc[m] + 8), s[2 * m + 1]);
    }
}

/* Eight channels' outputs from their sums, as oneDNN's post-ops compute them (see mpq_qconv.h). `prev` is the
   destination's current values (accumulate). */
TARGET static __m256 finish8(const mpq_qconv *c, __m256i acc, int o, __m256 prev) {
    __m256i comp = _mm256_loadu_si256((const __m256i *)(c->comp + o));
    __m256 y = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, comp));
    y = _mm256_mul_ps(_mm256_add_ps(y, _mm256_loadu_ps(c->biasp + o)), _mm256_loadu_ps(c->scalep + o));
    if (c->codes_out) {
        y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(c->lo)), _mm256_set1_ps(c->hi));
        return _mm256_round_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    if (c->accumulate) y = _mm256_add_ps(y, prev);
    if (c->activation == MPQ_DNNL_RELU) y = _mm256_max_ps(y, _mm256_setzero_ps());
    if (c->activation == MPQ_DNNL_RELU6)
        y = _mm256_min_ps(_mm256_max_ps(y, _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
    if (c->out_scale > 0) {
        y = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(c->inv_out)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(c->lo)), _mm256_set1_ps(c->hi));
        y = _mm256_mul_ps(y, _mm256_set1_ps(c->out_scale));
    }
    return y;
}

TARGET static void store_block(const mpq_qconv *c, void *dst, int panel, int p0, int np, int32_t acc[MR][16]) {
    int o0 = panel * 16, n = c->oc - o0 < 16 ? c->oc - o0 : 16;
    for (int m = 0; m < np; m++) {
        size_t at = (size_t)(p0 + m) * c->oc + o0;
        float *df = (float *)dst + at;
        __m256 prev0 = _mm256_setzero_ps(), prev1 = prev0;
        if (c->accumulate) {
            if (n == 16) { prev0 = _mm256_loadu_ps(df); prev1 = _mm256_loadu_ps(df + 8); }
            else {
                float prev[16] = {0};
                memcpy(prev, df, (size_t)n * sizeof(float));
                prev0 = _mm256_loadu_ps(prev); prev1 = _mm256_loadu_ps(prev + 8);
            }
        }
        __m256 y0 = finish8(c, _mm256_loadu_si256((const __m256i *)acc[m]), o0, prev0);
        __m256 y1 = finish8(c, _mm256_loadu_si256((const __m256i *)(acc[m] + 8)), o0 + 8, prev1);
        if (c->codes_out) {
            /* Integral values in [0, 255]: convert exactly, pack to bytes in order. */
            __m256i i16 = _mm256_packs_epi32(_mm256_cvtps_epi32(y0), _mm256_cvtps_epi32(y1));
            __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(i16), _mm256_extracti128_si256(i16, 1));
            b = _mm_shuffle_epi32(b, _MM_SHUFFLE(3, 1, 2, 0));
            uint8_t *d = (uint8_t *)dst + at;
            if (n == 16) _mm_storeu_si128((__m128i *)d, b);
            else { uint8_t tmp[16]; _mm_storeu_si128((__m128i *)tmp, b); memcpy(d, tmp, (size_t)n); }
        } else if (n == 16) {
            _mm256_storeu_ps(df, y0);
            _mm256_storeu_ps(df + 8, y1);
        } else {
            float out[16];
            _mm256_storeu_ps(out, y0);
            _mm256_storeu_ps(out + 8, y1);
            memcpy(df, out, (size_t)n * sizeof(float));
        }
    }
}

void mpq_qconv_run_part(const mpq_qconv *c, const uint8_t *src, void *dst, int part, int parts) {
    size_t items = (size_t)c->panels * c->chunks;
    size_t lo = items * part / parts, hi = items * (part + 1) / parts;
    const uint8_t *in = c->copy ? c->padded : src;
    int32_t acc[MR][16] __attribute__((aligned(32)));
    for (size_t i = lo; i < hi; i++) {
        /* Panel-major when the weights are large (a panel's weights stay in cache while pixels stream), else
           chunk-major (a chunk's source pixels stay in L1 while the small weights of every panel pass). */
        int panel = c->panel_major ? (int)(i / c->chunks) : (int)(i % c->panels);
        int chunk = c->panel_major ? (int)(i % c->chunks) : (int)(i / c->panels);
        int end = (chunk + 1) * CHUNK_BLOCKS * MR;
        if (end > c->pixels) end = c->pixels;
        for (int p0 = chunk * CHUNK_BLOCKS * MR; p0 < end; p0 += MR) {
            int np = end - p0 < MR ? end - p0 : MR;
            sums(c, in, panel, p0, np, acc);
            store_block(c, dst, panel, p0, np, acc);
        }
    }
}

int mpq_qconv_pads(const mpq_qconv *c) { return c->copy; }

void mpq_qconv_pad_part(const mpq_qconv *c, const uint8_t *src, int part, int parts) {
    if (!c->copy) return;
    int y0 = (int)((long)c->h * part / parts), y1 = (int)((long)c->h * (part + 1) / parts);
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < c->w; x++)
            memcpy(c->padded + ((size_t)(y + c->pad) * c->wp + (size_t)(x + c->pad)) * c->icp,
                   src + ((size_t)y * c->w + x) * c->ic, (size_t)c->ic);
}
