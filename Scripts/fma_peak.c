/* Peak single-precision FMA rate of one core with AVX2 and, where the CPU has it, AVX-512 (12 independent
 * accumulators, so throughput-bound), per CPU-second of the calling thread: the "machine peak" that
 * docs/performance.md compares kernels against. Each kernel is compiled for its own ISA (target attributes)
 * and picked at run time, so the file builds and runs on AVX2-only CPUs as well.
 * Build and run: gcc -O2 Scripts/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

enum { ACC = 12, ITERS = 50000000, ROUNDS = 5 };

__attribute__((target("avx512f"))) static double peak_avx512(float *sink) {
    __m512 a[ACC], b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    for (int i = 0; i < ACC; i++) a[i] = _mm512_set1_ps((float)i);
    double best = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double t = now();
        for (long i = 0; i < ITERS; i++) {
#pragma GCC unroll 12
            for (int j = 0; j < ACC; j++) a[j] = _mm512_fmadd_ps(a[j], b, c);
        }
        double g = (double)ITERS * ACC * 16 * 2 / (now() - t) / 1e9;
        if (g > best) best = g;
    }
    for (int i = 0; i < ACC; i++) *sink += _mm512_reduce_add_ps(a[i]);
    return best;
}

__attribute__((target("avx2,fma"))) static double peak_avx2(float *sink) {
    __m256 a[ACC], b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
    for (int i = 0; i < ACC; i++) a[i] = _mm256_set1_ps((float)i);
    double best = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double t = now();
        for (long i = 0; i < ITERS; i++) {
#pragma GCC unroll 12
            for (int j = 0; j < ACC; j++) a[j] = _mm256_fmadd_ps(a[j], b, c);
        }
        double g = (double)ITERS * ACC * 8 * 2 / (now() - t) / 1e9;
        if (g > best) best = g;
    }
    for (int i = 0; i < ACC; i++) {
        float v[8];
        _mm256_storeu_ps(v, a[i]);
        *sink += v[0];
    }
    return best;
}

int main(void) {
    float sink = 0;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        printf("this CPU has no AVX2 + FMA\n");
        return 1;
    }
    printf("avx2 fma peak %.1f GFLOP/s per CPU-second\n", peak_avx2(&sink));
    if (__builtin_cpu_supports("avx512f"))
        printf("avx512 fma peak %.1f GFLOP/s per CPU-second\n", peak_avx512(&sink));
    else
        printf("avx512: not on this CPU\n");
    printf("(checksum %f)\n", sink);
    return 0;
}
