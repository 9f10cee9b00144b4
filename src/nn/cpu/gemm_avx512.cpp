// The AVX-512 kernel of nn/cpu/gemm.h (compiled with -mavx512f; called only after
// gemm.cpp has checked the CPU).
#include <immintrin.h>

#include <algorithm>
#include <memory>

#include "nn/cpu/gemm.h"
#include "nn/cpu/parallel.h"

namespace sam3rt::nn::cpu {

namespace {

constexpr int64_t kMr = 12;   // rows per micro-tile
constexpr int64_t kNr = 32;   // columns per micro-tile (two registers)
constexpr int64_t kKc = 256;  // depth block: a 32-column W panel is 32 KiB, in L1
constexpr int64_t kMc = 192;  // rows per A block (16 panels, 192 KiB, in L2)
constexpr int64_t kNc = 512;  // columns per W block (16 panels, 512 KiB, in L2)

// acc(12 x 32) = Ap (kc x 12, row r of a depth step at k * 12 + r) . Bp (kc x 32).
inline void micro_kernel(int64_t kc, const float* ap, const float* bp, __m512 acc[kMr][2]) {
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k, ap += kMr, bp += kNr) {
    const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
    for (int r = 0; r < kMr; ++r) {
      const __m512 a = _mm512_set1_ps(ap[r]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    }
  }
}

// C tile (mr x nr, top-left c) += acc.
inline void add_tile(float* c, int64_t ldc, int64_t mr, int64_t nr, __m512 acc[kMr][2]) {
  if (nr == kNr) {
    for (int64_t r = 0; r < mr; ++r) {
      float* row = c + r * ldc;
      _mm512_storeu_ps(row, _mm512_add_ps(_mm512_loadu_ps(row), acc[r][0]));
      _mm512_storeu_ps(row + 16, _mm512_add_ps(_mm512_loadu_ps(row + 16), acc[r][1]));
    }
    return;
  }
  const __mmask16 m0 = static_cast<__mmask16>(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
  for (int64_t r = 0; r < mr; ++r) {
    float* row = c + r * ldc;
    _mm512_mask_storeu_ps(row, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, row), acc[r][0]));
    _mm512_mask_storeu_ps(row + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, row + 16), acc[r][1]));
  }
}

// Rows [r0, r0 + count) x depth [k0, k0 + kc) of a row-major matrix (leading dimension ld)
// -> panels of `width` rows, depth-major: panel p, depth k, row r at p * kc * width + k * width + r;
// rows past count are zero. W is packed with width 32 (kNr), A with width 12 (kMr).
void pack_panels(const float* m, int64_t ld, int64_t r0, int64_t count, int64_t k0, int64_t kc, int64_t width,
                 float* dst) {
  for (int64_t p = 0; p * width < count; ++p) {
    float* panel = dst + p * kc * width;
    const int64_t rows = std::min(width, count - p * width);
    for (int64_t r = 0; r < width; ++r) {
      if (r >= rows) {
        for (int64_t k = 0; k < kc; ++k) panel[k * width + r] = 0.0f;
        continue;
      }
      const float* src = m + (r0 + p * width + r) * ld + k0;
      for (int64_t k = 0; k < kc; ++k) panel[k * width + r] = src[k];
    }
  }
}

// C[:, j_begin:j_end] += A W[j_begin:j_end]^T, on one thread.
void gemm_columns(int64_t M, int64_t K, const float* A, int64_t lda, const float* W, int64_t ldw, float* C,
                  int64_t ldc, int64_t j_begin, int64_t j_end) {
  std::unique_ptr<float[]> wp(new float[kKc * kNc]);
  std::unique_ptr<float[]> ap(new float[kKc * kMc]);
  __m512 acc[kMr][2];
  for (int64_t j0 = j_begin; j0 < j_end; j0 += kNc) {
    const int64_t nc = std::min(kNc, j_end - j0);
    for (int64_t k0 = 0; k0 < K; k0 += kKc) {
      const int64_t kc = std::min(kKc, K - k0);
      pack_panels(W, ldw, j0, nc, k0, kc, kNr, wp.get());
      for (int64_t i0 = 0; i0 < M; i0 += kMc) {
        const int64_t mc = std::min(kMc, M - i0);
        pack_panels(A, lda, i0, mc, k0, kc, kMr, ap.get());
        for (int64_t jr = 0; jr < nc; jr += kNr) {
          const float* bp = wp.get() + (jr / kNr) * kc * kNr;
          for (int64_t ir = 0; ir < mc; ir += kMr) {
            micro_kernel(kc, ap.get() + (ir / kMr) * kc * kMr, bp, acc);
            add_tile(C + (i0 + ir) * ldc + j0 + jr, ldc, std::min(kMr, mc - ir), std::min(kNr, nc - jr), acc);
          }
        }
      }
    }
  }
}

}  // namespace

void gemm_abt_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* W, int64_t ldw,
                     const float* bias, float* C, int64_t ldc, bool accumulate, int threads) {
  if (M <= 0 || N <= 0) return;
  gemm_column_ranges(M, N, kNr, bias, C, ldc, accumulate, threads, [&](int64_t j_begin, int64_t j_end) {
    if (K > 0) gemm_columns(M, K, A, lda, W, ldw, C, ldc, j_begin, j_end);
  });
}

}  // namespace sam3rt::nn::cpu
