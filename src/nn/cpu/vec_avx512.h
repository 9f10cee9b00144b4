// AVX-512 float vector operations shared by the AVX-512 kernels (include only from files
// compiled with -mavx512f -mavx512dq; internal linkage, one copy per file).
#pragma once

#include <immintrin.h>

namespace sam3rt::nn::cpu {
namespace {

struct VecAvx512 {
  static constexpr int W = 16;
  using Reg = __m512;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg x) { _mm512_storeu_ps(p, x); }
  // The first n (< W) floats; the rest read as 0 / left alone, never touched in memory.
  static Reg load_n(const float* p, int n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
  static void store_n(float* p, Reg x, int n) { _mm512_mask_storeu_ps(p, tail_mask(n), x); }
  static __mmask16 tail_mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static Reg set1(float f) { return _mm512_set1_ps(f); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static Reg max(Reg a, Reg b) { return _mm512_max_ps(a, b); }
  static float hmax(Reg x) { return _mm512_reduce_max_ps(x); }
  static float hsum(Reg x) { return _mm512_reduce_add_ps(x); }
  // e^x: x = n ln2 + r with |r| <= ln2 / 2, e^r by its Taylor series to degree 7
  // (relative error < 1e-8 before rounding), times 2^n by scalef. Inputs are clamped to
  // [-87, 88], where the result stays a normal float.
  static Reg exp(Reg x) {
    x = _mm512_min_ps(_mm512_max_ps(x, set1(-87.0f)), set1(88.0f));
    const Reg n = _mm512_roundscale_ps(_mm512_mul_ps(x, set1(1.44269504088896341f)),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    Reg r = _mm512_fnmadd_ps(n, set1(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, set1(-2.12194440e-4f), r);
    Reg e = set1(1.0f / 5040);
    e = fma(e, r, set1(1.0f / 720));
    e = fma(e, r, set1(1.0f / 120));
    e = fma(e, r, set1(1.0f / 24));
    e = fma(e, r, set1(1.0f / 6));
    e = fma(e, r, set1(0.5f));
    e = fma(e, r, set1(1.0f));
    e = fma(e, r, set1(1.0f));
    return _mm512_scalef_ps(e, n);
  }
};


}  // namespace
}  // namespace sam3rt::nn::cpu
