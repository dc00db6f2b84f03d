// oneDNN primitives behind a small C interface (see mpq_dnnl.h).
#include "mpq_dnnl.h"
#include "mpq_winograd.h"
#include "mpq_qconv.h"
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

void omp_set_num_threads(int n);
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);

typedef struct {
    int slot, c, h, w;
    int dtype;           /* MPQ_DNNL_F32, MPQ_DNNL_U8 or MPQ_DNNL_S8 */
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    void *data;
} tensor_t;

static dnnl_data_type_t dnnl_type(int dtype) {
    return dtype == MPQ_DNNL_U8 ? dnnl_u8 : dtype == MPQ_DNNL_S8 ? dnnl_s8 : dnnl_f32;
}
static size_t element_size(int dtype) { return dtype == MPQ_DNNL_F32 ? 4 : 1; }

typedef struct {
    dnnl_primitive_t prim;
    const char *impl;
    int src, dst;
    dnnl_memory_t weights, bias;   /* NULL for pooling */
    dnnl_memory_desc_t weights_md, bias_md;
    int is_pool;
    int threads;
    float *scales;       /* int8 convs: the output scales (kept for the attribute's lifetime) */
    mpq_wino *wino;      /* a Winograd conv (our own kernels, no primitive) */
    mpq_qconv *qconv;    /* an integer conv with 16-bit partial sums (our own kernels, no primitive) */
} step_t;

struct mpq_dnnl_program {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    tensor_t *tensors;
    int ntensors, captensors;
    step_t *steps;
    int nsteps, capsteps;
    size_t *slot_bytes;
    void **slot_data;
    int nslots;
    size_t scratch_bytes;
    dnnl_memory_t scratch;
    void *scratch_data;
    size_t weight_bytes;
    int threads;
    int winograd;        /* 1: eligible float convs run as Winograd F(2x2, 3x3) (mpq_dnnl_set_winograd) */
    int qconv;           /* MPQ_DNNL_S16_*: which integer convs run as mpq_qconv (mpq_dnnl_set_int8_s16) */
    int finalized;
};

static int fail(char *err, size_t n, const char *what, dnnl_status_t s) {
    if (err && n) snprintf(err, n, "oneDNN: %s failed (status %d)", what, (int)s);
    return -1;
}
#define TRY(call, what) do { dnnl_status_t s_ = (call); if (s_ != dnnl_success) return fail(err, errlen, what, s_); } while (0)

mpq_dnnl_program *mpq_dnnl_create(int threads, char *err, size_t errlen) {
    mpq_dnnl_program *p = calloc(1, sizeof *p);
    if (!p) { snprintf(err, errlen, "out of memory"); return NULL; }
    p->threads = threads > 0 ? threads : 1;
    dnnl_status_t s = dnnl_engine_create(&p->engine, dnnl_cpu, 0);
    if (s == dnnl_success) s = dnnl_stream_create(&p->stream, p->engine, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        fail(err, errlen, "engine creation", s);
        mpq_dnnl_destroy(p);
        return NULL;
    }
    return p;
}

static void destroy_step(mpq_dnnl_program *p, step_t *s);

void mpq_dnnl_destroy(mpq_dnnl_program *p) {
    if (!p) return;
    for (int i = 0; i < p->nsteps; i++) destroy_step(p, &p->steps[i]);
    for (int i = 0; i < p->ntensors; i++) if (p->tensors[i].mem) dnnl_memory_destroy(p->tensors[i].mem);
    if (p->slot_data) for (int i = 0; i < p->nslots; i++) free(p->slot_data[i]);
    if (p->scratch) dnnl_memory_destroy(p->scratch);
    free(p->scratch_data);
    free(p->slot_data);
    free(p->slot_bytes);
    free(p->steps);
    free(p->tensors);
    if (p->stream) dnnl_stream_destroy(p->stream);
    if (p->engine) dnnl_engine_destroy(p->engine);
    free(p);
}

/* Makes room for `needed` elements of `size` bytes in `*array` (capacity `*cap`), doubling; -1 if out of memory. */
static int grow(void **array, int *cap, int needed, size_t size) {
    if (needed <= *cap) return 0;
    int n = *cap ? *cap : 32;
    while (n < needed) n *= 2;
    void *a = realloc(*array, (size_t)n * size);
    if (!a) return -1;
    *array = a;
    *cap = n;
    return 0;
}

int mpq_dnnl_tensor(mpq_dnnl_program *p, int slot, int c, int h, int w, char *err, size_t errlen) {
    return mpq_dnnl_tensor_typed(p, slot, c, h, w, MPQ_DNNL_F32, err, errlen);
}

int mpq_dnnl_tensor_typed(mpq_dnnl_program *p, int slot, int c, int h, int w, int dtype, char *err, size_t errlen) {
    if (p->finalized) { snprintf(err, errlen, "program already finalized"); return -1; }
    if (c <= 0 || h <= 0 || w <= 0) { snprintf(err, errlen, "bad tensor shape [1, %d, %d, %d]", c, h, w); return -1; }
    if (grow((void **)&p->tensors, &p->captensors, p->ntensors + 1, sizeof *p->tensors) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    tensor_t *t = &p->tensors[p->ntensors];
    memset(t, 0, sizeof *t);
    t->slot = slot; t->c = c; t->h = h; t->w = w; t->dtype = dtype;
    dnnl_dims_t dims = {1, c, h, w};
    TRY(dnnl_memory_desc_init_by_tag(&t->md, 4, dims, dnnl_type(dtype), dnnl_nhwc), "tensor descriptor");
    TRY(dnnl_memory_create(&t->mem, &t->md, p->engine, DNNL_MEMORY_NONE), "tensor memory");
    if (slot >= p->nslots) {
        size_t *b = realloc(p->slot_bytes, (slot + 1) * sizeof *b);
        if (!b) { snprintf(err, errlen, "out of memory"); return -1; }
        for (int i = p->nslots; i <= slot; i++) b[i] = 0;
        p->slot_bytes = b;
        p->nslots = slot + 1;
    }
    if (slot >= 0) {
        size_t bytes = (size_t)c * h * w * element_size(dtype);
        if (bytes > p->slot_bytes[slot]) p->slot_bytes[slot] = bytes;
    }
    return p->ntensors++;
}

static int push_step(mpq_dnnl_program *p, step_t s, char *err, size_t errlen) {
    if (grow((void **)&p->steps, &p->capsteps, p->nsteps + 1, sizeof *p->steps) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->steps[p->nsteps] = s;
    return p->nsteps++;
}

/* Creates the primitive and notes its scratchpad size. */
static int make_primitive(mpq_dnnl_program *p, const_dnnl_op_desc_t desc, dnnl_primitive_attr_t attr,
                          dnnl_primitive_desc_t *pd, step_t *step, char *err, size_t errlen) {
    omp_set_num_threads(step->threads);   /* the primitive's work split is fixed for this many threads */
    TRY(dnnl_primitive_desc_create(pd, desc, attr, p->engine, NULL), "primitive descriptor");
    const char *impl = NULL;
    dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl);
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(*pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (sbytes > p->scratch_bytes) p->scratch_bytes = sbytes;
    step->impl = NULL;
    TRY(dnnl_primitive_create(&step->prim, *pd), "primitive");
    /* the implementation string lives in the pd; keep a copy */
    step->impl = strdup(impl ? impl : "unknown");
    return 0;
}

static int reordered(mpq_dnnl_program *p, const dnnl_memory_desc_t *from_md, const void *data,
                     const dnnl_memory_desc_t *to_md, dnnl_memory_t *out, char *err, size_t errlen) {
    dnnl_memory_t user;
    TRY(dnnl_memory_create(&user, from_md, p->engine, (void *)data), "user memory");
    TRY(dnnl_memory_create(out, to_md, p->engine, DNNL_MEMORY_ALLOCATE), "weight memory");
    p->weight_bytes += dnnl_memory_desc_get_size(to_md);
    dnnl_primitive_desc_t rpd;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&rpd, from_md, p->engine, to_md, p->engine, NULL);
    if (s != dnnl_success) { dnnl_memory_destroy(user); return fail(err, errlen, "weight reorder", s); }
    dnnl_primitive_t r;
    s = dnnl_primitive_create(&r, rpd);
    dnnl_primitive_desc_destroy(rpd);
    if (s != dnnl_success) { dnnl_memory_destroy(user); return fail(err, errlen, "weight reorder", s); }
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, *out}};
    s = dnnl_primitive_execute(r, p->stream, 2, args);
    if (s == dnnl_success) s = dnnl_stream_wait(p->stream);
    dnnl_primitive_destroy(r);
    dnnl_memory_destroy(user);
    if (s != dnnl_success) return fail(err, errlen, "weight reorder", s);
    return 0;
}

static dnnl_primitive_attr_t base_attr(void) {
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    return attr;
}

/* Frees a step's primitive, weights and implementation name (and takes its weights off the byte count). */
static void destroy_step(mpq_dnnl_program *p, step_t *s) {
    if (s->prim) dnnl_primitive_destroy(s->prim);
    if (s->weights) {
        p->weight_bytes -= dnnl_memory_desc_get_size(&s->weights_md);
        dnnl_memory_destroy(s->weights);
    }
    if (s->bias) {
        p->weight_bytes -= dnnl_memory_desc_get_size(&s->bias_md);
        dnnl_memory_destroy(s->bias);
    }
    if (s->wino) {
        p->weight_bytes -= mpq_wino_bytes(s->wino);
        mpq_wino_destroy(s->wino);
    }
    if (s->qconv) {
        p->weight_bytes -= mpq_qconv_bytes(s->qconv);
        mpq_qconv_destroy(s->qconv);
    }
    free((char *)s->impl);
    free(s->scales);
    s->prim = NULL; s->weights = NULL; s->bias = NULL; s->impl = NULL; s->scales = NULL; s->wino = NULL; s->qconv = NULL;
}

/* The conv primitive for `step->threads` threads, with its weights and bias reordered into its formats. */
static int build_conv(mpq_dnnl_program *p, const dnnl_convolution_desc_t *cd, dnnl_primitive_attr_t attr,
                      const dnnl_memory_desc_t *wmd_user, const void *weight, const dnnl_memory_desc_t *bmd,
                      const float *bias, step_t *step, char *err, size_t errlen) {
    dnnl_primitive_desc_t pd = NULL;
    int r = make_primitive(p, cd, attr, &pd, step, err, errlen);
    if (r < 0) { if (pd) dnnl_primitive_desc_destroy(pd); return -1; }
    step->weights_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    step->bias_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1);
    r = reordered(p, wmd_user, weight, &step->weights_md, &step->weights, err, errlen);
    if (r == 0) r = reordered(p, bmd, bias, &step->bias_md, &step->bias, err, errlen);
    dnnl_primitive_desc_destroy(pd);
    return r;
}

static int run_step(mpq_dnnl_program *p, const step_t *s, dnnl_memory_t src, dnnl_memory_t dst,
                    dnnl_memory_t scratch) {
    omp_set_num_threads(s->threads);
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WEIGHTS, s->weights},
                               {DNNL_ARG_BIAS, s->bias}, {DNNL_ARG_SCRATCHPAD, scratch}};
    dnnl_status_t st = dnnl_primitive_execute(s->prim, p->stream, scratch ? 5 : 4, args);
    if (st == dnnl_success) st = dnnl_stream_wait(p->stream);
    return st == dnnl_success ? 0 : -1;
}

/* 1 if the two conv steps give the same bits on one pseudo-random input (and destination, for a sum post-op),
   0 if not, -1 on failure. */
static int same_results(mpq_dnnl_program *p, const step_t *a, const step_t *b, const tensor_t *x,
                        const tensor_t *y, char *err, size_t errlen) {
    size_t nx = (size_t)x->c * x->h * x->w, ny = (size_t)y->c * y->h * y->w;
    size_t sbytes = (p->scratch_bytes + 63) / 64 * 64;
    float *in = aligned_alloc(64, (nx * 4 + 63) / 64 * 64), *o1 = aligned_alloc(64, (ny * 4 + 63) / 64 * 64);
    float *o2 = aligned_alloc(64, (ny * 4 + 63) / 64 * 64);
    void *scratch = sbytes ? aligned_alloc(64, sbytes) : NULL;
    int result = -1;
    dnnl_memory_t ms = NULL, m1 = NULL, m2 = NULL, msc = NULL;
    if (!in || !o1 || !o2 || (sbytes && !scratch)) { snprintf(err, errlen, "out of memory"); goto done; }
    uint32_t state = 0x9E3779B9u;
    for (size_t i = 0; i < nx; i++) {
        state ^= state << 13; state ^= state >> 17; state ^= state << 5;
        in[i] = (float)(state >> 8) / 8388608.0f - 1.0f;
    }
    for (size_t i = 0; i < ny; i++) {
        state ^= state << 13; state ^= state >> 17; state ^= state << 5;
        o1[i] = o2[i] = (float)(state >> 8) / 8388608.0f - 1.0f;
    }
    dnnl_memory_desc_t smd;
    dnnl_dims_t sd = {(dnnl_dim_t)(sbytes ? sbytes : 64)};
    if (dnnl_memory_create(&ms, &x->md, p->engine, in) != dnnl_success
        || dnnl_memory_create(&m1, &y->md, p->engine, o1) != dnnl_success
        || dnnl_memory_create(&m2, &y->md, p->engine, o2) != dnnl_success
        || (sbytes && (dnnl_memory_desc_init_by_tag(&smd, 1, sd, dnnl_u8, dnnl_x) != dnnl_success
                       || dnnl_memory_create(&msc, &smd, p->engine, scratch) != dnnl_success))) {
        snprintf(err, errlen, "oneDNN: determinism check memory failed");
        goto done;
    }
    if (run_step(p, a, ms, m1, msc) < 0 || run_step(p, b, ms, m2, msc) < 0) {
        snprintf(err, errlen, "oneDNN: determinism check run failed");
        goto done;
    }
    result = memcmp(o1, o2, ny * sizeof(float)) == 0;
done:
    if (ms) dnnl_memory_destroy(ms);
    if (m1) dnnl_memory_destroy(m1);
    if (m2) dnnl_memory_destroy(m2);
    if (msc) dnnl_memory_destroy(msc);
    free(in); free(o1); free(o2); free(scratch);
    return result;
}

/* The checks and descriptors both conv kinds share: geometry against the tensors, weights of type `wtype`
   (`[oc, ic/g, kh, kw]`, or grouped `[g, oc/g, ic/g, kh, kw]`) in the user layout and `any`, f32 bias, the conv. */
static int conv_descriptors(mpq_dnnl_program *p, int src, int dst, int groups, int kh, int kw, int stride,
                            int padding, int dilation, int activation, int accumulate, dnnl_data_type_t wtype,
                            dnnl_convolution_desc_t *cd, dnnl_memory_desc_t *wmd_user, dnnl_memory_desc_t *bmd,
                            char *err, size_t errlen) {
    if (p->finalized || src < 0 || src >= p->ntensors || dst < 0 || dst >= p->ntensors || groups < 1) {
        snprintf(err, errlen, "bad conv arguments");
        return -1;
    }
    /* The int8 conv's point levels accumulate before the activation (sum post-op, then eltwise); a float conv's
       accumulation is a residual add, which has none. */
    if (accumulate && activation != MPQ_DNNL_IDENTITY && wtype != dnnl_s8) {
        snprintf(err, errlen, "an accumulating conv must have no activation");
        return -1;
    }
    tensor_t *x = &p->tensors[src], *y = &p->tensors[dst];
    int dst_ok = y->dtype == MPQ_DNNL_F32 || (wtype == dnnl_s8 && y->dtype == MPQ_DNNL_U8 && !accumulate);
    if (!dst_ok || (wtype == dnnl_f32) != (x->dtype == MPQ_DNNL_F32)) {
        snprintf(err, errlen, wtype == dnnl_f32 ? "a float conv reads and writes float tensors"
                                                : "an int8 conv reads u8 or s8 and writes float (or u8 codes)");
        return -1;
    }
    int ic = x->c, oc = y->c;
    if (ic % groups || oc % groups) { snprintf(err, errlen, "channels not divisible by groups"); return -1; }
    int oh = (x->h + 2 * padding - dilation * (kh - 1) - 1) / stride + 1;
    int ow = (x->w + 2 * padding - dilation * (kw - 1) - 1) / stride + 1;
    if (oh != y->h || ow != y->w) {
        snprintf(err, errlen, "conv output %dx%d does not fit the destination %dx%d", oh, ow, y->h, y->w);
        return -1;
    }
    dnnl_memory_desc_t wmd_any;
    if (groups > 1) {
        dnnl_dims_t wd = {groups, oc / groups, ic / groups, kh, kw};
        TRY(dnnl_memory_desc_init_by_tag(&wmd_any, 5, wd, wtype, dnnl_format_tag_any), "weight descriptor");
        TRY(dnnl_memory_desc_init_by_tag(wmd_user, 5, wd, wtype, dnnl_goihw), "weight descriptor");
    } else {
        dnnl_dims_t wd = {oc, ic, kh, kw};
        TRY(dnnl_memory_desc_init_by_tag(&wmd_any, 4, wd, wtype, dnnl_format_tag_any), "weight descriptor");
        TRY(dnnl_memory_desc_init_by_tag(wmd_user, 4, wd, wtype, dnnl_oihw), "weight descriptor");
    }
    dnnl_dims_t bd = {oc};
    TRY(dnnl_memory_desc_init_by_tag(bmd, 1, bd, dnnl_f32, dnnl_x), "bias descriptor");
    dnnl_dims_t strides = {stride, stride}, dil = {dilation - 1, dilation - 1}, pad = {padding, padding};
    TRY(dnnl_dilated_convolution_forward_desc_init(cd, dnnl_forward_inference, dnnl_convolution_direct,
                                                    &x->md, &wmd_any, bmd, &y->md, strides, dil, pad, pad),
        "convolution descriptor");
    return 0;
}

int mpq_dnnl_conv(mpq_dnnl_program *p, int src, int dst, const float *weight, const float *bias,
                  int groups, int kh, int kw, int stride, int padding, int dilation, int activation,
                  int accumulate, char *err, size_t errlen) {
    dnnl_convolution_desc_t cd;
    dnnl_memory_desc_t wmd_user, bmd;
    if (conv_descriptors(p, src, dst, groups, kh, kw, stride, padding, dilation, activation, accumulate, dnnl_f32,
                         &cd, &wmd_user, &bmd, err, errlen) < 0) return -1;
    tensor_t *x = &p->tensors[src], *y = &p->tensors[dst];
    int oc = y->c;
    int oh = y->h, ow = y->w;
    if (p->winograd && mpq_dnnl_winograd_fits(x->c, oc, groups, kh, kw, stride, padding, dilation, accumulate)) {
        step_t step = {0};
        step.src = src; step.dst = dst; step.threads = p->threads;
        step.wino = mpq_wino_create(x->c, oc, oh, ow, weight, bias, activation, p->threads);
        step.impl = strdup("mpq:winograd_2x2_3x3:avx2");
        if (!step.wino || !step.impl) { destroy_step(p, &step); snprintf(err, errlen, "out of memory"); return -1; }
        p->weight_bytes += mpq_wino_bytes(step.wino);
        return push_step(p, step, err, errlen);
    }
    dnnl_primitive_attr_t attr = base_attr();
    if (!attr) { snprintf(err, errlen, "oneDNN: attribute creation failed"); return -1; }
    dnnl_post_ops_t ops = NULL;
    if (accumulate || activation != MPQ_DNNL_IDENTITY) {
        dnnl_post_ops_create(&ops);
        if (accumulate) dnnl_post_ops_append_sum(ops, 1.0f);
        if (activation == MPQ_DNNL_RELU) dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        if (activation == MPQ_DNNL_RELU6) dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_clip, 0.0f, 6.0f);
        dnnl_primitive_attr_set_post_ops(attr, ops);
    }
    float *zeros = NULL;
    if (!bias) {
        zeros = calloc((size_t)oc, sizeof(float));
        if (!zeros) { if (ops) dnnl_post_ops_destroy(ops); dnnl_primitive_attr_destroy(attr);
                      snprintf(err, errlen, "out of memory"); return -1; }
    }
    const float *b = bias ? bias : zeros;
    step_t step = {0};
    step.src = src; step.dst = dst; step.threads = p->threads;
    int r = build_conv(p, &cd, attr, &wmd_user, weight, &bmd, b, &step, err, errlen);
    /* oneDNN fixes a primitive's work split for its thread count, and for some shapes (measured with oneDNN 2.6:
       512 -> 24 3x3 on 5x5 outputs, 1 vs 2 threads; a 32 -> 64 dilated conv on 19x19, 1 vs 3) the split changes
       the order of the sums. For every conv with outputs up to 19x19 (where the split has the most freedom; the
       larger VGG and MobileNet shapes measured identical), build the one-thread version too, run both on the same
       pseudo-random input, and keep the multi-thread primitive only if every output bit agrees. The split does
       not depend on the data, so outputs then match the one-thread program for any input. */
    if (r == 0 && p->threads > 1 && oh * ow <= 19 * 19) {
        step_t one = step;
        one.threads = 1;
        one.prim = NULL; one.weights = NULL; one.bias = NULL; one.impl = NULL;
        r = build_conv(p, &cd, attr, &wmd_user, weight, &bmd, b, &one, err, errlen);
        int same = r == 0 ? same_results(p, &step, &one, x, y, err, errlen) : -1;
        if (same < 0) { r = -1; destroy_step(p, &one); }
        else if (same) destroy_step(p, &one);
        else { destroy_step(p, &step); step = one; }
    }
    free(zeros);
    if (ops) dnnl_post_ops_destroy(ops);
    dnnl_primitive_attr_destroy(attr);
    if (r < 0) { destroy_step(p, &step); return -1; }
    return push_step(p, step, err, errlen);
}

/* The integer convolution: u8/s8 NHWC source, s8 weights `[oc, ic/groups, kh, kw]`, s32 accumulation, f32 NHWC
   destination `dst = act(scales[o] * acc + bias[o] (+ dst))`. oneDNN 2.x applies a conv's bias before the output
   scales (`scale * (acc + bias)`), so the bias handed to it is `bias / scale` (the unit tests pin the formula
   against an integer reference). Integer accumulation is exact, so the thread split cannot change any bit: no
   one-thread cross-check as for float convs. */
int mpq_dnnl_conv_int8(mpq_dnnl_program *p, int src, int dst, const int8_t *weight, const float *scales,
                       const float *bias, int src_zero_point, int groups, int kh, int kw, int stride, int padding,
                       int dilation, int activation, int accumulate, float out_scale, float out_qmin, float out_qmax,
                       char *err, size_t errlen) {
    dnnl_convolution_desc_t cd;
    dnnl_memory_desc_t wmd_user, bmd;
    if (conv_descriptors(p, src, dst, groups, kh, kw, stride, padding, dilation, activation, accumulate, dnnl_s8,
                         &cd, &wmd_user, &bmd, err, errlen) < 0) return -1;
    int oc = p->tensors[dst].c;
    /* A u8 destination holds its reader's codes: code = clamp(round(y / out_scale), qmin, qmax), qmin >= 0. */
    int codes_out = p->tensors[dst].dtype == MPQ_DNNL_U8;
    if (codes_out && !(out_scale > 0 && out_qmin >= 0 && out_qmax <= 255)) {
        snprintf(err, errlen, "a u8 conv output needs its reader's unsigned grid");
        return -1;
    }
    if (p->qconv && groups == 1 && p->tensors[src].dtype == MPQ_DNNL_U8
        && (p->qconv == MPQ_DNNL_S16_ALL || kh * kw * ((p->tensors[src].c + 3) / 4) >= MPQ_DNNL_S16_MIN_STEPS)) {
        /* Our 16-bit partial-sum kernel, when the weight codes are small enough (mpq_qconv.h). */
        tensor_t *x = &p->tensors[src], *y = &p->tensors[dst];
        mpq_qconv *q = mpq_qconv_create(x->c, oc, x->h, x->w, kh, kw, stride, padding, dilation, weight, scales,
                                        bias, src_zero_point, activation, accumulate, codes_out, out_scale,
                                        out_qmin, out_qmax);
        if (q && mpq_qconv_output_fits(q, y->c, y->h, y->w)) {
            step_t step = {0};
            step.src = src; step.dst = dst; step.threads = p->threads; step.qconv = q;
            step.impl = strdup("mpq:int8_s16:avx2");
            if (!step.impl) { destroy_step(p, &step); snprintf(err, errlen, "out of memory"); return -1; }
            p->weight_bytes += mpq_qconv_bytes(q);
            return push_step(p, step, err, errlen);
        }
        mpq_qconv_destroy(q);
    }
    dnnl_primitive_attr_t attr = base_attr();
    if (!attr) { snprintf(err, errlen, "oneDNN: attribute creation failed"); return -1; }
    step_t step = {0};
    step.src = src; step.dst = dst; step.threads = p->threads;
    step.scales = malloc((size_t)oc * sizeof(float));
    float *scaled_bias = calloc((size_t)oc, sizeof(float));
    if (!step.scales || !scaled_bias) {
        free(step.scales); free(scaled_bias); dnnl_primitive_attr_destroy(attr);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int o = 0; o < oc; o++) {
        /* oneDNN computes scale · (acc + bias'): bias' = bias / scales[o] in either case; codes divide by s. */
        step.scales[o] = codes_out ? scales[o] / out_scale : scales[o];
        scaled_bias[o] = bias && scales[o] != 0 ? bias[o] / scales[o] : 0;
    }
    dnnl_status_t st = dnnl_primitive_attr_set_output_scales(attr, oc, 1 << 1, step.scales);
    if (st == dnnl_success && src_zero_point) {
        int32_t zp = src_zero_point;
        st = dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &zp);
    }
    if (st != dnnl_success) {
        free(scaled_bias); destroy_step(p, &step); dnnl_primitive_attr_destroy(attr);
        return fail(err, errlen, "output scales", st);
    }
    dnnl_post_ops_t ops = NULL;
    if (codes_out) {
        /* In code units: the activation's bounds divide by s, then the grid's clamp; the conversion to u8 rounds
           (ties to even). */
        dnnl_post_ops_create(&ops);
        float lo = out_qmin, hi = out_qmax;
        if (activation == MPQ_DNNL_RELU6 && 6.0f / out_scale < hi) hi = 6.0f / out_scale;
        dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_clip, lo, hi);
    } else if (accumulate || activation != MPQ_DNNL_IDENTITY) {
        dnnl_post_ops_create(&ops);
        if (accumulate) dnnl_post_ops_append_sum(ops, 1.0f);
        if (activation == MPQ_DNNL_RELU) dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        if (activation == MPQ_DNNL_RELU6) dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_clip, 0.0f, 6.0f);
    }
    if (out_scale > 0 && !codes_out) {
        /* The reader's fake quantization fused: scale · clip(round(y / scale), qmin, qmax) (oneDNN rounds ties to
           even, the float engines away from zero: they differ only on exact ties). */
        if (!ops) dnnl_post_ops_create(&ops);
        dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_linear, 1.0f / out_scale, 0.0f);
        dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_round, 0.0f, 0.0f);
        /* The clip's own result scale multiplies back by s (a second `linear` would not do: oneDNN 2.6's jit int8
           kernels applied the first linear's alpha to both, measured; tested). */
        dnnl_post_ops_append_eltwise(ops, out_scale, dnnl_eltwise_clip_v2, out_qmin, out_qmax);
    }
    if (ops) dnnl_primitive_attr_set_post_ops(attr, ops);
    int r = build_conv(p, &cd, attr, &wmd_user, weight, &bmd, scaled_bias, &step, err, errlen);
    free(scaled_bias);
    if (ops) dnnl_post_ops_destroy(ops);
    dnnl_primitive_attr_destroy(attr);
    if (r < 0) { destroy_step(p, &step); return -1; }
    return push_step(p, step, err, errlen);
}

int mpq_dnnl_max_pool(mpq_dnnl_program *p, int src, int dst, int kernel, int stride,
                      int pad_top, int pad_left, int pad_bottom, int pad_right, char *err, size_t errlen) {
    if (p->finalized || src < 0 || src >= p->ntensors || dst < 0 || dst >= p->ntensors) {
        snprintf(err, errlen, "bad pool arguments");
        return -1;
    }
    tensor_t *x = &p->tensors[src], *y = &p->tensors[dst];
    if (x->dtype != y->dtype) { snprintf(err, errlen, "pool source and destination types differ"); return -1; }
    if (x->c != y->c || (x->h + pad_top + pad_bottom - kernel) / stride + 1 != y->h
        || (x->w + pad_left + pad_right - kernel) / stride + 1 != y->w) {
        snprintf(err, errlen, "pool output does not fit the destination");
        return -1;
    }
    dnnl_dims_t strides = {stride, stride}, k = {kernel, kernel}, pl = {pad_top, pad_left}, pr = {pad_bottom, pad_right};
    dnnl_pooling_desc_t d;
    TRY(dnnl_pooling_forward_desc_init(&d, dnnl_forward_inference, dnnl_pooling_max, &x->md, &y->md, strides, k,
                                       pl, pr), "pooling descriptor");
    dnnl_primitive_attr_t attr = base_attr();
    if (!attr) { snprintf(err, errlen, "oneDNN: attribute creation failed"); return -1; }
    step_t step = {0};
    step.src = src; step.dst = dst; step.is_pool = 1; step.threads = p->threads;
    dnnl_primitive_desc_t pd = NULL;
    int r = make_primitive(p, &d, attr, &pd, &step, err, errlen);
    dnnl_primitive_attr_destroy(attr);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (r < 0) return -1;
    return push_step(p, step, err, errlen);
}

int mpq_dnnl_finalize(mpq_dnnl_program *p, char *err, size_t errlen) {
    if (p->finalized) return 0;
    p->slot_data = calloc(p->nslots ? p->nslots : 1, sizeof(void *));
    if (!p->slot_data) { snprintf(err, errlen, "out of memory"); return -1; }
    for (int i = 0; i < p->nslots; i++) {
        if (!p->slot_bytes[i]) continue;
        size_t bytes = (p->slot_bytes[i] + 63) / 64 * 64;
        p->slot_data[i] = aligned_alloc(64, bytes);
        if (!p->slot_data[i]) { snprintf(err, errlen, "out of memory (%zu bytes)", bytes); return -1; }
        memset(p->slot_data[i], 0, bytes);
    }
    for (int i = 0; i < p->ntensors; i++) {
        tensor_t *t = &p->tensors[i];
        if (t->slot >= 0) {
            t->data = p->slot_data[t->slot];
            TRY(dnnl_memory_set_data_handle(t->mem, t->data), "set data handle");
        }
    }
    if (p->scratch_bytes) {
        size_t bytes = (p->scratch_bytes + 63) / 64 * 64;
        p->scratch_data = aligned_alloc(64, bytes);
        if (!p->scratch_data) { snprintf(err, errlen, "out of memory"); return -1; }
        dnnl_dims_t d = {(dnnl_dim_t)bytes};
        dnnl_memory_desc_t md;
        TRY(dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_u8, dnnl_x), "scratchpad descriptor");
        TRY(dnnl_memory_create(&p->scratch, &md, p->engine, p->scratch_data), "scratchpad memory");
    }
    p->finalized = 1;
    return 0;
}

float *mpq_dnnl_data(mpq_dnnl_program *p, int tensor) {
    return tensor >= 0 && tensor < p->ntensors ? (float *)p->tensors[tensor].data : NULL;
}

void *mpq_dnnl_bytes_of(mpq_dnnl_program *p, int tensor) {
    return tensor >= 0 && tensor < p->ntensors ? p->tensors[tensor].data : NULL;
}

void mpq_dnnl_set_data(mpq_dnnl_program *p, int tensor, float *data) {
    if (tensor < 0 || tensor >= p->ntensors) return;
    p->tensors[tensor].data = data;
    dnnl_memory_set_data_handle(p->tensors[tensor].mem, data);
}

int mpq_dnnl_winograd_supported(void) { return mpq_wino_supported(); }

int mpq_dnnl_winograd_preferred(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return mpq_wino_supported() && (isa & dnnl_cpu_isa_avx512_core) != dnnl_cpu_isa_avx512_core;
}

int mpq_dnnl_winograd_fits(int ic, int oc, int groups, int kh, int kw, int stride, int padding, int dilation,
                           int accumulate) {
    return groups == 1 && kh == 3 && kw == 3 && stride == 1 && padding == 1 && dilation == 1 && !accumulate
        && ic >= 8 && ic % 8 == 0 && oc >= 1;   /* any output channel count */
}

void mpq_dnnl_set_winograd(mpq_dnnl_program *p, int on) { p->winograd = on && mpq_wino_supported(); }

int mpq_dnnl_int8_s16_supported(void) { return mpq_qconv_supported(); }

int mpq_dnnl_int8_s16_preferred(void) { return mpq_qconv_supported() && !mpq_dnnl_has_vnni(); }

int mpq_dnnl_int8_s16_steps(int max_abs_code) { return mpq_qconv_steps_per_flush(max_abs_code); }

void mpq_dnnl_set_int8_s16(mpq_dnnl_program *p, int mode) {
    p->qconv = mpq_qconv_supported() && (mode == MPQ_DNNL_S16_FASTER || mode == MPQ_DNNL_S16_ALL) ? mode : 0;
}

/* Our own kernels' parts: `part(step, src, dst, k, parts)` for k < parts, one part per thread. */
typedef void (*part_fn)(const step_t *s, const void *src, void *dst, int part, int parts);
typedef struct { part_fn fn; const step_t *s; const void *src; void *dst; int parts; } parts_job;

/* Each OpenMP thread runs parts t, t + n, ... of `parts` (each part has its own buffers, so fewer threads than
   asked for still computes every part once). */
static void parts_trampoline(void *arg) {
    const parts_job *j = arg;
    int n = omp_get_num_threads();
    for (int part = omp_get_thread_num(); part < j->parts; part += n) j->fn(j->s, j->src, j->dst, part, j->parts);
}

static void run_parts(part_fn fn, const step_t *s, const void *src, void *dst) {
    if (s->threads <= 1) { fn(s, src, dst, 0, 1); return; }
    parts_job j = {fn, s, src, dst, s->threads};
    GOMP_parallel(parts_trampoline, &j, (unsigned)s->threads, 0);
}

static void wino_part(const step_t *s, const void *src, void *dst, int part, int parts) {
    mpq_wino_run_part(s->wino, src, dst, part, parts);
}
static void qconv_pad_part(const step_t *s, const void *src, void *dst, int part, int parts) {
    (void)dst;
    mpq_qconv_pad_part(s->qconv, src, part, parts);
}
static void qconv_part(const step_t *s, const void *src, void *dst, int part, int parts) {
    mpq_qconv_run_part(s->qconv, src, dst, part, parts);
}

int mpq_dnnl_execute(mpq_dnnl_program *p, int index, char *err, size_t errlen) {
    if (!p->finalized || index < 0 || index >= p->nsteps) { snprintf(err, errlen, "bad step %d", index); return -1; }
    step_t *s = &p->steps[index];
    if (!p->tensors[s->src].data || !p->tensors[s->dst].data) {
        snprintf(err, errlen, "step %d has a tensor without storage", index);
        return -1;
    }
    if (s->wino) {
        run_parts(wino_part, s, p->tensors[s->src].data, p->tensors[s->dst].data);
        return 0;
    }
    if (s->qconv) {
        if (mpq_qconv_pads(s->qconv)) run_parts(qconv_pad_part, s, p->tensors[s->src].data, NULL);
        run_parts(qconv_part, s, p->tensors[s->src].data, p->tensors[s->dst].data);
        return 0;
    }
    omp_set_num_threads(s->threads);
    dnnl_exec_arg_t args[5];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, p->tensors[s->src].mem};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, p->tensors[s->dst].mem};
    if (!s->is_pool) {
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, s->weights};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, s->bias};
    }
    if (p->scratch) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch};
    TRY(dnnl_primitive_execute(s->prim, p->stream, n, args), "execute");
    TRY(dnnl_stream_wait(p->stream), "stream wait");
    return 0;
}

int mpq_dnnl_has_vnni(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni
        || (isa & dnnl_cpu_isa_avx2_vnni) == dnnl_cpu_isa_avx2_vnni;
}

const char *mpq_dnnl_implementation(mpq_dnnl_program *p, int step) {
    return step >= 0 && step < p->nsteps ? p->steps[step].impl : "";
}

size_t mpq_dnnl_bytes(mpq_dnnl_program *p) {
    size_t total = p->weight_bytes + p->scratch_bytes;
    for (int i = 0; i < p->nslots; i++) total += p->slot_bytes[i];
    return total;
}

/* Codes of an integer conv's input: q = clamp(round(x / scale), qmin, qmax) with ties away from zero, plus the
   zero point, as u8. The rounding is trunc(v) ± 1 when |v - trunc(v)| >= 0.5 (v - trunc(v) is exact), with
   integer truncation, which the compiler vectorises with SSE2 alone (x86 has no ties-away rounding). A zero
   scale gives zp. */
static inline uint8_t code_of(float x, float scale, int qmin, int qmax, int zp) {
    float v = x / scale;
    v = v < -256.0f ? -256.0f : v;   /* beyond every grid: clamping first cannot change the code */
    v = v > 256.0f ? 256.0f : v;
    int t = (int)v;                  /* truncation toward zero (cvttps2dq) */
    float f = v - (float)t;          /* exact */
    t += (f >= 0.5f) - (f <= -0.5f);
    t = t < qmin ? qmin : t;
    t = t > qmax ? qmax : t;
    return (uint8_t)(t + zp);
}

/* The element-wise passes below run on oneDNN's OpenMP (libgomp) threads, the count the last primitive set, in
   contiguous blocks when the work is large enough to be worth a thread; the results do not depend on the split.
   libgomp's own entry point is called directly: Swift's clang would compile `#pragma omp` for LLVM's runtime,
   and a second thread pool beside oneDNN's would oversubscribe the cores. */
#define MPQ_PAR_MIN 65536
int omp_get_max_threads(void);   /* GOMP_parallel and the thread queries are declared at the top */

typedef struct { size_t n; void (*body)(void *, size_t, size_t); void *ctx; } par_job;

static void par_trampoline(void *arg) {
    par_job *j = arg;
    size_t t = (size_t)omp_get_thread_num(), k = (size_t)omp_get_num_threads();
    size_t lo = j->n * t / k, hi = j->n * (t + 1) / k;
    if (lo < hi) j->body(j->ctx, lo, hi);
}

/* body(ctx, lo, hi) over [0, n) split across the threads; `work` decides whether threads are worth it. */
static void par_for(size_t n, size_t work, void (*body)(void *, size_t, size_t), void *ctx) {
    if (work < MPQ_PAR_MIN || omp_get_max_threads() <= 1) { body(ctx, 0, n); return; }
    par_job j = {n, body, ctx};
    GOMP_parallel(par_trampoline, &j, 0, 0);
}

typedef struct { const float *x; uint8_t *y; float scale; int lo, hi, zp; } quant_ctx;

/* The bodies copy their context into locals first: a uint8_t store may alias the context, which would make the
   compiler reload every field per element and give up vectorising (measured: 8x slower). */
static void quant_body(void *c, size_t lo, size_t hi) {
    const quant_ctx q = *(const quant_ctx *)c;
    const float *restrict x = q.x;
    uint8_t *restrict y = q.y;
    for (size_t i = lo; i < hi; i++) y[i] = code_of(x[i], q.scale, q.lo, q.hi, q.zp);
}

void mpq_quantize_u8(const float *x, uint8_t *y, size_t n, float scale, float qmin, float qmax, int zp) {
    if (!(scale > 0)) { memset(y, zp, n); return; }
    quant_ctx q = {x, y, scale, (int)qmin, (int)qmax, zp};
    par_for(n, n, quant_body, &q);
}

typedef struct { const float *x; uint8_t *y; int channels, count; const int32_t *map; float scale; int lo, hi, zp; }
    gather_ctx;

static void gather_body(void *c, size_t lo, size_t hi) {
    const gather_ctx g = *(const gather_ctx *)c;
    const int32_t *restrict map = g.map;
    for (size_t p = lo; p < hi; p++) {
        const float *restrict row = g.x + p * (size_t)g.channels;
        uint8_t *restrict out = g.y + p * (size_t)g.count;
        for (int i = 0; i < g.count; i++) out[i] = code_of(row[map[i]], g.scale, g.lo, g.hi, g.zp);
    }
}

void mpq_quantize_gather_u8(const float *x, uint8_t *y, size_t pixels, int channels, const int32_t *map, int count,
                            float scale, float qmin, float qmax, int zp) {
    if (!(scale > 0)) { memset(y, zp, pixels * (size_t)count); return; }
    gather_ctx g = {x, y, channels, count, map, scale, (int)qmin, (int)qmax, zp};
    par_for(pixels, pixels * (size_t)count, gather_body, &g);
}

/* One value's fake quantization (see mpq_fake_quantize): shared by the fake-quantize pass and the row sum. */
static inline float fake_quant_value(float x, float scale, int lo, int hi, int signed_grid) {
    float v = x / scale;
    float w = v < -256.0f ? -256.0f : v;
    w = w > 256.0f ? 256.0f : w;
    int t = (int)w;
    float d = w - (float)t;
    t += (d >= 0.5f) - (d <= -0.5f);
    t = t < lo ? lo : t;
    t = t > hi ? hi : t;
    float q = (float)t;
    if (signed_grid && t == 0 && __builtin_signbit(v)) q = -0.0f;
    return scale * q;
}

typedef struct {
    const float *rows; float *y; int o, r, stride; const int32_t *extra; const float *bias; int activation, accumulate;
    float fq_scale; int fq_lo, fq_hi, fq_signed;
    uint8_t *codes;   /* non-NULL: write the reader's codes on the fq grid instead of floats (y is scratch) */
} sum_ctx;

/* Pixel p's channels: act(its rows summed + bias (+ dst with accumulate)) into dst. */
static inline void sum_pixel(const sum_ctx *s, size_t p, float *restrict dst) {
    const int o = s->o, r = s->r;
    const float *restrict bias = s->bias;
    const int32_t *restrict extra = s->extra;
    const float *restrict src = s->rows + p * (size_t)s->stride;
    if (s->accumulate) for (int c = 0; c < o; c++) dst[c] += src[c] + bias[c];
    else for (int c = 0; c < o; c++) dst[c] = src[c] + bias[c];
    for (int j = 0; j < r - o; j++) dst[extra[j]] += src[o + j];
    if (s->activation == MPQ_DNNL_RELU) for (int c = 0; c < o; c++) dst[c] = dst[c] > 0 ? dst[c] : 0;
    else if (s->activation == MPQ_DNNL_RELU6)
        for (int c = 0; c < o; c++) dst[c] = dst[c] > 0 ? (dst[c] < 6 ? dst[c] : 6) : 0;
}

static void sum_body(void *c, size_t lo, size_t hi) {
    const sum_ctx s = *(const sum_ctx *)c;
    for (size_t p = lo; p < hi; p++) {
        float *restrict dst = s.y + p * (size_t)s.o;
        sum_pixel(&s, p, dst);
        if (s.fq_scale > 0)
            for (int c = 0; c < s.o; c++) dst[c] = fake_quant_value(dst[c], s.fq_scale, s.fq_lo, s.fq_hi, s.fq_signed);
    }
}

/* The row sum of one pixel into a stack row, then its codes (`mpq_sum_rows_codes`; o <= 4096). */
static void sum_codes_body(void *c, size_t lo, size_t hi) {
    const sum_ctx s = *(const sum_ctx *)c;
    float dst[4096];
    for (size_t p = lo; p < hi; p++) {
        sum_pixel(&s, p, dst);
        uint8_t *restrict out = s.codes + p * (size_t)s.o;
        for (int c = 0; c < s.o; c++) out[c] = code_of(dst[c], s.fq_scale, s.fq_lo, s.fq_hi, 0);
    }
}

/* A multipoint integer conv's rows back to channels. Rows are point-major: rows 0..o-1 are one row of each
   channel in channel order, row o+j (j < r - o) adds to channel extra[j]; a pixel's rows are `stride` floats
   apart (stride >= r: the conv's zero rows that round its row count up sit at the end, unread).
   y[p, c] = act(rows[p, c] + bias[c] (+ y[p, c]) + Σ_{j: extra[j] = c} rows[p, o + j]). */
void mpq_sum_rows(const float *rows, float *y, size_t pixels, int o, int r, int stride, const int32_t *extra,
                  const float *bias, int activation, int accumulate, float fq_scale, float fq_qmin, float fq_qmax) {
    sum_ctx c = {rows, y, o, r, stride, extra, bias, activation, accumulate, fq_scale > 0 ? fq_scale : 0,
                 (int)fq_qmin, (int)fq_qmax, fq_qmin < 0, NULL};
    par_for(pixels, pixels * (size_t)r, sum_body, &c);
}

void mpq_sum_rows_codes(const float *rows, uint8_t *codes, size_t pixels, int o, int r, int stride,
                        const int32_t *extra, const float *bias, int activation, float scale, float qmin, float qmax) {
    /* Each pixel's sum is built in a per-thread scratch row before it becomes codes. */
    sum_ctx c = {rows, NULL, o, r, stride, extra, bias, activation, 0, scale, (int)qmin, (int)qmax, 0, codes};
    par_for(pixels, pixels * (size_t)r, sum_codes_body, &c);
}

typedef struct { const float *x; float *y; float scale; int lo, hi, signed_grid; } fq_ctx;

static void fq_body(void *c, size_t lo, size_t hi) {
    const fq_ctx fc = *(const fq_ctx *)c;
    const float *x = fc.x;   /* x and y may be the same buffer */
    float *y = fc.y;
    for (size_t i = lo; i < hi; i++) y[i] = fake_quant_value(x[i], fc.scale, fc.lo, fc.hi, fc.signed_grid);
}

/* The float engines' fake quantization, x̂ = scale · clamp(round(x / scale), qmin, qmax) with ties away from
   zero, bit for bit as the scalar Swift form computes it (a result of zero keeps the sign of x / scale when the
   grid is signed, as Swift's rounding and min/max keep it; an unsigned grid's lower clamp gives +0). */
void mpq_fake_quantize(const float *x, float *y, size_t n, float scale, float qmin, float qmax) {
    if (!(scale > 0)) { for (size_t i = 0; i < n; i++) y[i] = 0; return; }
    fq_ctx f = {x, y, scale, (int)qmin, (int)qmax, qmin < 0};
    par_for(n, n, fq_body, &f);
}
