// The fused attention kernel for AVX2 + FMA (compiled with -mavx2 -mfma; called only after
// fused_attention.cpp has checked the CPU).
// The vector traits V below mirror the other instruction set's file line for line by design
// (one kernel source, fused_attention_kernel.inc, instantiated per width).
#include <immintrin.h>

namespace sam3rt::nn::cpu {
namespace {

struct V {
  static constexpr int W = 8;
  using Reg = __m256;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg x) { _mm256_storeu_ps(p, x); }
  // The first n (< W) floats; the rest read as 0 / left alone, never touched in memory.
  static Reg load_n(const float* p, int n) { return _mm256_maskload_ps(p, tail_mask(n)); }
  static void store_n(float* p, Reg x, int n) { _mm256_maskstore_ps(p, tail_mask(n), x); }
  static __m256i tail_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Reg set1(float f) { return _mm256_set1_ps(f); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static Reg max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static float hmax(Reg x) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static float hsum(Reg x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // e^x as in the AVX-512 kernel; 2^n is built in the exponent bits (n in [-126, 127]
  // after the clamp).
  static Reg exp(Reg x) {
    x = _mm256_min_ps(_mm256_max_ps(x, set1(-87.0f)), set1(88.0f));
    const Reg n = _mm256_round_ps(_mm256_mul_ps(x, set1(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    Reg r = _mm256_fnmadd_ps(n, set1(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, set1(-2.12194440e-4f), r);
    Reg e = set1(1.0f / 5040);
    e = fma(e, r, set1(1.0f / 720));
    e = fma(e, r, set1(1.0f / 120));
    e = fma(e, r, set1(1.0f / 24));
    e = fma(e, r, set1(1.0f / 6));
    e = fma(e, r, set1(0.5f));
    e = fma(e, r, set1(1.0f));
    e = fma(e, r, set1(1.0f));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(e, _mm256_castsi256_ps(bits));
  }
};

}  // namespace
}  // namespace sam3rt::nn::cpu

#include "nn/cpu/fused_attention_kernel.inc"

namespace sam3rt::nn::cpu {
void fused_attention_avx2(const AttentionProblem& p, int threads) { run(p, threads); }
}  // namespace sam3rt::nn::cpu
