// The AVX512-BF16 kernel of nn/cpu/gemm.h (compiled with -mavx512bf16; called only after
// gemm.cpp has checked the CPU). Same blocking as the float32 kernel (gemm_avx512.cpp),
// with the depth taken in pairs: vdpbf16ps multiplies two bf16 pairs per float32 lane
// and adds both products into the lane, so one instruction does twice the work of an FMA.
//
// Packed layouts, one 32-bit word = a pair of bf16 at depth (2p, 2p + 1):
//   A panel (12 rows):   word [p][r]          -> broadcast to every lane
//   W panel (32 columns): word [p][c], c < 32  -> two registers of 16 lanes
// An odd depth is padded with a zero pair half.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "nn/cpu/gemm.h"
#include "nn/cpu/parallel.h"

namespace sam3rt::nn::cpu {

namespace {

constexpr int64_t kMr = 12;   // rows per micro-tile
constexpr int64_t kNr = 32;   // columns per micro-tile (two registers)
constexpr int64_t kPc = 256;  // depth pairs per block: a W panel is 32 KiB, in L1
constexpr int64_t kMc = 192;  // rows per A block (16 panels, 192 KiB, in L2)
constexpr int64_t kNc = 512;  // columns per W block (16 panels, 512 KiB, in L2)

// acc(12 x 32) = sum over pc depth pairs of Ap[p][r] . Bp[p][c].
inline void micro_kernel(int64_t pc, const uint32_t* ap, const uint32_t* bp, __m512 acc[kMr][2]) {
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < pc; ++p, ap += kMr, bp += kNr) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp), b1 = (__m512bh)_mm512_loadu_si512(bp + 16);
    for (int r = 0; r < kMr; ++r) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(ap[r]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
    }
  }
}

// C tile (mr x nr, top-left c) += acc.
inline void add_tile(float* c, int64_t ldc, int64_t mr, int64_t nr, __m512 acc[kMr][2]) {
  const __mmask16 m0 = static_cast<__mmask16>(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
  for (int64_t r = 0; r < mr; ++r) {
    float* row = c + r * ldc;
    _mm512_mask_storeu_ps(row, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, row), acc[r][0]));
    _mm512_mask_storeu_ps(row + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, row + 16), acc[r][1]));
  }
}

// Rows [r0, r0 + count) x depth [k0, k0 + kc) of a row-major bf16 matrix (leading
// dimension ld, elements) -> panels of `width` rows of depth pairs: panel q, pair p, row r
// at q * pc * width + p * width + r, pc = ceil(kc / 2); rows past count and the depth past
// kc are zero.
void pack_pairs(const uint16_t* m, int64_t ld, int64_t r0, int64_t count, int64_t k0, int64_t kc, int64_t width,
                uint32_t* dst) {
  const int64_t pc = (kc + 1) / 2, full = kc / 2;
  for (int64_t q = 0; q * width < count; ++q) {
    uint32_t* panel = dst + q * pc * width;
    const int64_t rows = std::min(width, count - q * width);
    for (int64_t r = 0; r < width; ++r) {
      if (r >= rows) {
        for (int64_t p = 0; p < pc; ++p) panel[p * width + r] = 0;
        continue;
      }
      const uint16_t* src = m + (r0 + q * width + r) * ld + k0;
      for (int64_t p = 0; p < full; ++p) {
        uint32_t pair;
        std::memcpy(&pair, src + 2 * p, sizeof pair);  // little-endian: element 2p in the low half
        panel[p * width + r] = pair;
      }
      if (pc > full) panel[full * width + r] = src[2 * full];
    }
  }
}

// C[:, j_begin:j_end] += A W[j_begin:j_end]^T on one thread; A and W bf16.
void gemm_columns(int64_t M, int64_t K, const uint16_t* A, int64_t lda, const uint16_t* W, int64_t ldw, float* C,
                  int64_t ldc, int64_t j_begin, int64_t j_end) {
  std::unique_ptr<uint32_t[]> wp(new uint32_t[kPc * kNc]);
  std::unique_ptr<uint32_t[]> ap(new uint32_t[kPc * kMc]);
  __m512 acc[kMr][2];
  for (int64_t j0 = j_begin; j0 < j_end; j0 += kNc) {
    const int64_t nc = std::min(kNc, j_end - j0);
    for (int64_t k0 = 0; k0 < K; k0 += 2 * kPc) {
      const int64_t kc = std::min(2 * kPc, K - k0), pc = (kc + 1) / 2;
      pack_pairs(W, ldw, j0, nc, k0, kc, kNr, wp.get());
      for (int64_t i0 = 0; i0 < M; i0 += kMc) {
        const int64_t mc = std::min(kMc, M - i0);
        pack_pairs(A, lda, i0, mc, k0, kc, kMr, ap.get());
        for (int64_t jr = 0; jr < nc; jr += kNr) {
          const uint32_t* bp = wp.get() + (jr / kNr) * pc * kNr;
          for (int64_t ir = 0; ir < mc; ir += kMr) {
            micro_kernel(pc, ap.get() + (ir / kMr) * pc * kMr, bp, acc);
            add_tile(C + (i0 + ir) * ldc + j0 + jr, ldc, std::min(kMr, mc - ir), std::min(kNr, nc - jr), acc);
          }
        }
      }
    }
  }
}

// n floats -> bf16, rounded to nearest even (the rounding of at::Tensor::to(kBFloat16)).
void to_bf16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
    _mm512_storeu_si512(dst + i, (__m512i)v);
  }
  if (i < n) {
    const int64_t rest = n - i;
    const __mmask16 lo = static_cast<__mmask16>(rest >= 16 ? 0xFFFF : (1u << rest) - 1);
    const __mmask16 hi = static_cast<__mmask16>(rest <= 16 ? 0 : (1u << (rest - 16)) - 1);
    const __m512bh v =
        _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, src + i + 16), _mm512_maskz_loadu_ps(lo, src + i));
    _mm512_mask_storeu_epi16(dst + i, (static_cast<__mmask32>(hi) << 16) | lo, (__m512i)v);
  }
}

}  // namespace

void convert_to_bf16_avx512bf16(const float* src, uint16_t* dst, int64_t n) { to_bf16(src, dst, n); }

void gemm_abt_bf16_avx512bf16(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* W,
                              int64_t ldw, const float* bias, float* C, int64_t ldc, bool accumulate, int threads) {
  if (M <= 0 || N <= 0) return;
  // A once in bf16 ([M, K], contiguous), rows shared out between the threads.
  std::unique_ptr<uint16_t[]> a16(new uint16_t[static_cast<size_t>(M * std::max<int64_t>(K, 1))]);
  const int64_t row_parts = std::max<int64_t>(1, std::min<int64_t>(threads, M / 64));
  parallel_tasks(row_parts, static_cast<int>(row_parts), [&](int64_t t, int) {
    const int64_t r0 = M * t / row_parts, r1 = M * (t + 1) / row_parts;
    for (int64_t r = r0; r < r1; ++r) to_bf16(A + r * lda, a16.get() + r * K, K);
  });
  gemm_column_ranges(M, N, kNr, bias, C, ldc, accumulate, threads, [&](int64_t j_begin, int64_t j_end) {
    if (K > 0) gemm_columns(M, K, a16.get(), K, W, ldw, C, ldc, j_begin, j_end);
  });
}

}  // namespace sam3rt::nn::cpu
