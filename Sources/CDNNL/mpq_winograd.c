// Winograd F(2x2, 3x3) float convolution, AVX2 + FMA (see mpq_winograd.h and docs/performance.md).
//
// Each 2x2 block of outputs ("tile") is computed from the 4x4 input patch around it as
//     Y = Aᵀ [ U ⊙ V ] A,   U = G g Gᵀ (per output and input channel, once),   V = Bᵀ d B (per input channel),
// where ⊙ multiplies the 16 transformed positions ξ one by one and sums over input channels. So the conv becomes
// 16 matrix products M_ξ = V_ξ · U_ξ (tiles x ic times ic x oc) with 16 instead of 36 multiplications per tile,
// channel pair: 2.25x fewer than a direct 3x3 conv. The transforms only add and subtract (G has halves).
//
// Work is split into blocks of `tb` tiles (a multiple of 6, fixed by the shape alone): a block's input is
// transformed into V (16 x tb x ic), multiplied into M (16 x tb x ocp) by a 6x16 register-blocked kernel
// (k blocked by KC so a 16-wide panel of U stays in L1 while V's rows come from L2), and transformed back with
// bias and activation into the NHWC output. Threads take whole blocks; a block's arithmetic never depends on
// which thread runs it, so outputs are bit-identical for any thread count.
#include "mpq_winograd.h"
#include "mpq_dnnl.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define TARGET __attribute__((target("avx2,fma")))
#define KC 256

struct mpq_wino {
    int ic, oc, ocp, panels, h, w, th, tw, tiles, tb, blocks, chunks, activation, threads;
    float *u;      /* [16][panels][ic][16] */
    float *bias;   /* [ocp] */
    float *work;   /* per thread: V [16][tb][ic], then M [16][tb][ocp] */
    size_t work_floats;
};

int mpq_wino_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static void *alloc64(size_t bytes) {
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

mpq_wino *mpq_wino_create(int ic, int oc, int h, int w, const float *weight, const float *bias, int activation,
                          int threads) {
    if (ic < 8 || oc < 1 || ic % 8 || h < 1 || w < 1 || threads < 1 || !mpq_wino_supported()) return NULL;
    mpq_wino *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ic = ic; c->oc = oc; c->ocp = (oc + 15) / 16 * 16; c->panels = c->ocp / 16;
    c->h = h; c->w = w; c->th = (h + 1) / 2; c->tw = (w + 1) / 2; c->tiles = c->th * c->tw;
    c->activation = activation; c->threads = threads;
    /* Tiles per block (whole 6-tile groups), measured on Zen 5 with the AVX2 kernels (vgg16-ssd's shapes): about
       24 while ic + oc <= 512 (a block's V and M then stay in L2), about 96 above, where streaming all of U once
       per block costs more than L2 misses on V and M (512 -> 512 @ 38x38: 36.7 ms at 96, 50 at 48, 95 at 12).
       The tiles are spread evenly over the blocks, so the last block is not mostly padding. */
    int target = ic + c->ocp <= 512 ? 24 : 96;
    int blocks = (c->tiles + target / 2) / target;
    if (blocks < 1) blocks = 1;
    int tb = (c->tiles + blocks - 1) / blocks;
    c->tb = (tb + 5) / 6 * 6;
    c->blocks = (c->tiles + c->tb - 1) / c->tb;
    /* Work items: a block times a range of 16-channel output panels. Layers with few blocks also split their
       panels (each item then transforms its block's input again, a small cost next to its products), so that
       the threads balance; the split changes no output bit. */
    c->chunks = c->blocks >= 8 ? 1 : (8 + c->blocks - 1) / c->blocks;
    if (c->chunks > c->panels) c->chunks = c->panels;
    c->work_floats = (size_t)16 * c->tb * ((size_t)ic + c->ocp);
    c->u = alloc64((size_t)16 * c->ocp * ic * sizeof(float));
    c->bias = alloc64((size_t)c->ocp * sizeof(float));
    c->work = alloc64(c->work_floats * threads * sizeof(float));
    if (!c->u || !c->bias || !c->work) { mpq_wino_destroy(c); return NULL; }
    memset(c->bias, 0, (size_t)c->ocp * sizeof(float));
    if (bias) memcpy(c->bias, bias, (size_t)oc * sizeof(float));
    memset(c->u, 0, (size_t)16 * c->ocp * ic * sizeof(float));
    /* U = G g Gᵀ, G = [[1, 0, 0], [½, ½, ½], [½, -½, ½], [0, 0, 1]], in double, rounded once. */
    for (int o = 0; o < oc; o++) {
        int p = o / 16, lane = o % 16;
        for (int k = 0; k < ic; k++) {
            const float *g = weight + ((size_t)o * ic + k) * 9;
            double gg[4][3];
            for (int j = 0; j < 3; j++) {
                double g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                gg[0][j] = g0;
                gg[1][j] = 0.5 * (g0 + g1 + g2);
                gg[2][j] = 0.5 * (g0 - g1 + g2);
                gg[3][j] = g2;
            }
            for (int i = 0; i < 4; i++) {
                double g0 = gg[i][0], g1 = gg[i][1], g2 = gg[i][2];
                double row[4] = {g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2};
                for (int j = 0; j < 4; j++) {
                    size_t xi = (size_t)(i * 4 + j);
                    c->u[((xi * c->panels + p) * ic + k) * 16 + lane] = (float)row[j];
                }
            }
        }
    }
    return c;
}

void mpq_wino_destroy(mpq_wino *c) {
    if (!c) return;
    free(c->u); free(c->bias); free(c->work);
    free(c);
}

size_t mpq_wino_bytes(const mpq_wino *c) {
    return ((size_t)16 * c->ocp * c->ic + c->ocp + c->work_floats * c->threads) * sizeof(float);
}

/* C[6][16] (row stride ldc) = (acc ? C : 0) + A[6][kc] (row stride lda) · B[kc][16]. */
TARGET static void kernel_6x16(int kc, const float *restrict a, int lda, const float *restrict b,
                               float *restrict c, int ldc, int acc) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda, *a4 = a + 4 * lda, *a5 = a + 5 * lda;
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), x;
        b += 16;
        x = _mm256_broadcast_ss(a0 + k); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a1 + k); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a2 + k); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a3 + k); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(a4 + k); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(a5 + k); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
    }
#define STORE(r, v0, v1)                                                                                    \
    do {                                                                                                    \
        float *row = c + (r) * ldc;                                                                         \
        if (acc) { v0 = _mm256_add_ps(_mm256_load_ps(row), v0); v1 = _mm256_add_ps(_mm256_load_ps(row + 8), v1); } \
        _mm256_store_ps(row, v0); _mm256_store_ps(row + 8, v1);                                             \
    } while (0)
    STORE(0, c00, c01); STORE(1, c10, c11); STORE(2, c20, c21);
    STORE(3, c30, c31); STORE(4, c40, c41); STORE(5, c50, c51);
#undef STORE
}

/* V[ξ][t][k] = (Bᵀ d B)[ξ] for the block's tiles (rows past the last tile are zero). */
TARGET static void input_transform(const mpq_wino *c, const float *restrict src, float *restrict v, int first) {
    const int ic = c->ic, tb = c->tb, w = c->w, h = c->h;
    const size_t plane = (size_t)tb * ic;
    const __m256 zero = _mm256_setzero_ps();
    for (int t = 0; t < tb; t++) {
        int tile = first + t;
        float *vt = v + (size_t)t * ic;
        if (tile >= c->tiles) {
            for (int xi = 0; xi < 16; xi++) memset(vt + xi * plane, 0, (size_t)ic * sizeof(float));
            continue;
        }
        int y0 = 2 * (tile / c->tw) - 1, x0 = 2 * (tile % c->tw) - 1;
        const float *rows[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                int y = y0 + i, x = x0 + j;
                rows[i][j] = (y >= 0 && y < h && x >= 0 && x < w) ? src + ((size_t)y * w + x) * ic : NULL;
            }
        for (int k = 0; k < ic; k += 8) {
            __m256 d[4][4];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) d[i][j] = rows[i][j] ? _mm256_loadu_ps(rows[i][j] + k) : zero;
            __m256 s[4][4];
            for (int j = 0; j < 4; j++) {
                s[0][j] = _mm256_sub_ps(d[0][j], d[2][j]);
                s[1][j] = _mm256_add_ps(d[1][j], d[2][j]);
                s[2][j] = _mm256_sub_ps(d[2][j], d[1][j]);
                s[3][j] = _mm256_sub_ps(d[1][j], d[3][j]);
            }
            for (int i = 0; i < 4; i++) {
                float *o = vt + (size_t)(i * 4) * plane + k;
                _mm256_store_ps(o, _mm256_sub_ps(s[i][0], s[i][2]));
                _mm256_store_ps(o + plane, _mm256_add_ps(s[i][1], s[i][2]));
                _mm256_store_ps(o + 2 * plane, _mm256_sub_ps(s[i][2], s[i][1]));
                _mm256_store_ps(o + 3 * plane, _mm256_sub_ps(s[i][1], s[i][3]));
            }
        }
    }
}

TARGET static inline __m256 activate(__m256 x, int activation) {
    if (activation == MPQ_DNNL_RELU) return _mm256_max_ps(x, _mm256_setzero_ps());
    if (activation == MPQ_DNNL_RELU6) return _mm256_min_ps(_mm256_max_ps(x, _mm256_setzero_ps()), _mm256_set1_ps(6));
    return x;
}

/* dst's 2x2 outputs of the block's tiles = act(Aᵀ M A + bias), Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]. */
TARGET static void output_transform(const mpq_wino *c, const float *restrict m, float *restrict dst, int first,
                                    int k_lo, int k_hi) {
    const int ocp = c->ocp, oc = c->oc, tb = c->tb, w = c->w, h = c->h;
    const size_t plane = (size_t)tb * ocp;
    for (int t = 0; t < tb && first + t < c->tiles; t++) {
        int tile = first + t;
        int y = 2 * (tile / c->tw), x = 2 * (tile % c->tw);
        int down = y + 1 < h, right = x + 1 < w;
        float *o00 = dst + ((size_t)y * w + x) * oc;
        float *o01 = o00 + oc, *o10 = o00 + (size_t)w * oc, *o11 = o10 + oc;
        const float *mt = m + (size_t)t * ocp;
        for (int k = k_lo; k < k_hi; k += 8) {
            __m256 q[16];
            for (int xi = 0; xi < 16; xi++) q[xi] = _mm256_load_ps(mt + xi * plane + k);
            __m256 s0[4], s1[4];
            for (int j = 0; j < 4; j++) {
                s0[j] = _mm256_add_ps(_mm256_add_ps(q[j], q[4 + j]), q[8 + j]);
                s1[j] = _mm256_sub_ps(_mm256_sub_ps(q[4 + j], q[8 + j]), q[12 + j]);
            }
            __m256 b = _mm256_load_ps(c->bias + k);
            __m256 y00 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0[0], s0[1]), s0[2]), b);
            __m256 y01 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s0[1], s0[2]), s0[3]), b);
            __m256 y10 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s1[0], s1[1]), s1[2]), b);
            __m256 y11 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s1[1], s1[2]), s1[3]), b);
            y00 = activate(y00, c->activation); y01 = activate(y01, c->activation);
            y10 = activate(y10, c->activation); y11 = activate(y11, c->activation);
            if (k + 8 <= oc) {
                _mm256_storeu_ps(o00 + k, y00);
                if (right) _mm256_storeu_ps(o01 + k, y01);
                if (down) {
                    _mm256_storeu_ps(o10 + k, y10);
                    if (right) _mm256_storeu_ps(o11 + k, y11);
                }
            } else {   /* the last channels when oc % 8 != 0 (a head's 84 or 126) */
                float lanes[4][8];
                _mm256_storeu_ps(lanes[0], y00); _mm256_storeu_ps(lanes[1], y01);
                _mm256_storeu_ps(lanes[2], y10); _mm256_storeu_ps(lanes[3], y11);
                size_t n = (size_t)(oc - k) * sizeof(float);
                memcpy(o00 + k, lanes[0], n);
                if (right) memcpy(o01 + k, lanes[1], n);
                if (down) {
                    memcpy(o10 + k, lanes[2], n);
                    if (right) memcpy(o11 + k, lanes[3], n);
                }
            }
        }
    }
}

/* Panels [p_lo, p_hi) of block `block`; `transformed` when `work` already holds this block's V. */
TARGET static void run_item(const mpq_wino *c, const float *src, float *dst, int block, int p_lo, int p_hi,
                            float *work, int transformed) {
    const int ic = c->ic, ocp = c->ocp, tb = c->tb, groups = tb / 6;
    float *v = work, *m = work + (size_t)16 * tb * ic;
    int first = block * tb;
    if (!transformed) input_transform(c, src, v, first);
    for (int xi = 0; xi < 16; xi++) {
        const float *vx = v + (size_t)xi * tb * ic;
        float *mx = m + (size_t)xi * tb * ocp;
        for (int k0 = 0; k0 < ic; k0 += KC) {
            int kc = ic - k0 < KC ? ic - k0 : KC;
            for (int p = p_lo; p < p_hi; p++) {
                const float *b = c->u + (((size_t)xi * c->panels + p) * ic + k0) * 16;
                for (int g = 0; g < groups; g++)
                    kernel_6x16(kc, vx + (size_t)g * 6 * ic + k0, ic, b, mx + (size_t)g * 6 * ocp + p * 16, ocp, k0 > 0);
            }
        }
    }
    int k_hi = p_hi * 16 < c->oc ? p_hi * 16 : c->oc;
    output_transform(c, m, dst, first, p_lo * 16, k_hi);
}

void mpq_wino_run_part(const mpq_wino *c, const float *src, float *dst, int part, int parts) {
    if (parts < 1 || part < 0 || part >= parts || part >= c->threads) return;
    long items = (long)c->blocks * c->chunks;
    long lo = items * part / parts, hi = items * (part + 1) / parts;
    float *work = c->work + c->work_floats * (size_t)part;
    int last = -1;
    for (long i = lo; i < hi; i++) {
        int block = (int)(i / c->chunks), chunk = (int)(i % c->chunks);
        int p_lo = c->panels * chunk / c->chunks, p_hi = c->panels * (chunk + 1) / c->chunks;
        run_item(c, src, dst, block, p_lo, p_hi, work, block == last);
        last = block;
    }
}
