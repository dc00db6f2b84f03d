/* Peak single-precision FMA rate of one core, AVX-512 and AVX2 (12 independent accumulators, so
 * throughput-bound), per CPU-second of the calling thread: the "machine peak" the runtime notes compare
 * kernels against. Build and run: gcc -O2 -march=native Scripts/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(){
  __m512 a[12]; __m512 b=_mm512_set1_ps(0.999f), c=_mm512_set1_ps(0.001f);
  for(int i=0;i<12;i++) a[i]=_mm512_set1_ps(i);
  long n=200000000/12*3; double best=0;
  for(int r=0;r<5;r++){
  double t=now();
  for(long i=0;i<n/3;i++){
#pragma GCC unroll 12
    for(int j=0;j<12;j++) a[j]=_mm512_fmadd_ps(a[j],b,c);
  }
  double dt=now()-t; double g=(double)(n/3)*12*16*2/dt/1e9; if(g>best)best=g;}
  float s=0; for(int i=0;i<12;i++) s+=_mm512_reduce_add_ps(a[i]);
  printf("avx512 fma peak %.1f GFLOP/s per CPU-second (%f)\n",best,s);
  __m256 d[12]; __m256 e=_mm256_set1_ps(0.999f), f=_mm256_set1_ps(0.001f); for(int i=0;i<12;i++) d[i]=_mm256_set1_ps(i);
  best=0; for(int r=0;r<5;r++){ double t=now();
  for(long i=0;i<n/3;i++){
#pragma GCC unroll 12
    for(int j=0;j<12;j++) d[j]=_mm256_fmadd_ps(d[j],e,f);}
  double dt=now()-t; double g=(double)(n/3)*12*8*2/dt/1e9; if(g>best)best=g;}
  s=0; for(int i=0;i<12;i++){float t[8];_mm256_storeu_ps(t,d[i]);s+=t[0];}
  printf("avx2 fma peak %.1f GFLOP/s per CPU-second (%f)\n",best,s);
}
