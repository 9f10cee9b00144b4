// fp32 matrix product for linear layers on x86 CPUs with AVX-512: C = A W^T (+ bias)
// (+ C), the shape of every nn::Linear. Debian's OpenBLAS runs its 256-bit kernel on
// AVX-512 machines (measured here: 117 GFLOP/s per core against 241 for a 512-bit FMA
// loop), so sam3rt multiplies its big linear layers itself.
//
// Goto-style blocking: W is packed per (column block, depth block) into 32-column panels,
// A per row block into 12-row panels, and a 12 x 32 register-blocked micro-kernel
// accumulates into C. Threads take disjoint column ranges of C, each with its own packs.
#pragma once

#include <cstdint>
#include <functional>

namespace sam3rt::nn::cpu {

// Whether gemm_abt runs here (an AVX-512 CPU and a build with the x86 kernels).
bool gemm_available();

// Whether gemm_abt beat the BLAS (at::mm) on this CPU: float32, 1536 x 1024 x 1024 (a
// ViT block's shape, cut down), best of 3 runs each with the threads the process has
// now. Measured once per process, at the first call (about 50 ms on 2 cores), then
// cached; false without gemm_available(). Which one wins differs between CPUs (an AMD
// EPYC: own 361 against 229 GFLOP/s; an Intel Xeon: 265 against 350). Thread-safe.
bool gemm_measured_faster();

// C[M, N] = A[M, K] W[N, K]^T + bias[N] (bias may be null), or C += that when accumulate.
// Row-major with row strides lda, ldw, ldc (elements). Requires gemm_available().
void gemm_abt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* W, int64_t ldw,
              const float* bias, float* C, int64_t ldc, bool accumulate, int threads);

// bf16 products (nn/cpu/gemm_bf16_avx512bf16.cpp): C[M, N] = A[M, K] W[N, K]^T (+ bias)
// (+ C) with A float32 (rounded to bf16 to nearest even inside), W bf16 (the raw 16-bit
// patterns of c10::BFloat16), bias and C float32, float32 accumulation.

// What the CPU offers for bf16 products, read once (CPUID and the OS's saved state).
struct Bf16Support {
  bool avx512_bf16 = false;  // vdpbf16ps (Intel Cooper Lake / Sapphire Rapids, AMD Zen 4+)
  bool amx_bf16 = false;     // AMX tiles with bf16 products (Intel Sapphire Rapids+)
};
Bf16Support bf16_support();

// Whether gemm_abt_bf16 runs here (AVX512-BF16 and a build with the x86 kernels).
bool gemm_bf16_available();

// Rates of the bf16 candidates in GFLOP/s, measured once per process at the first call
// (bf16, 1536 x 1024 x 1024, best of 3, the process's threads; about 50 ms on 2 cores):
// sam3rt's own AVX512-BF16 GEMM (0 when unavailable) and ATen's bf16 at::mm (oneDNN:
// AMX tiles where the CPU has them). Thread-safe.
struct Bf16Rates {
  double own = 0, aten = 0;
};
Bf16Rates gemm_bf16_measured();

void gemm_abt_bf16(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* W, int64_t ldw,
                   const float* bias, float* C, int64_t ldc, bool accumulate, int threads);

// n float32 values -> bf16 bit patterns, rounded to nearest even. Requires gemm_bf16_available().
void convert_to_bf16(const float* src, uint16_t* dst, int64_t n);

// The driver both kernels share: C's columns split into ranges of whole `panel`-column
// panels, one per thread (at most `threads`); each range of C starts as bias (or 0), or
// gets bias added when accumulating, then columns(j_begin, j_end) adds the product.
void gemm_column_ranges(int64_t M, int64_t N, int64_t panel, const float* bias, float* C, int64_t ldc,
                        bool accumulate, int threads, const std::function<void(int64_t, int64_t)>& columns);

#if defined(__x86_64__)
void gemm_abt_bf16_avx512bf16(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* W,
                              int64_t ldw, const float* bias, float* C, int64_t ldc, bool accumulate, int threads);
void convert_to_bf16_avx512bf16(const float* src, uint16_t* dst, int64_t n);
void gemm_abt_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* W, int64_t ldw,
                     const float* bias, float* C, int64_t ldc, bool accumulate, int threads);
#endif

}  // namespace sam3rt::nn::cpu
