#include "nn/cpu/gemm.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/randn.h>

#include <algorithm>
#include <chrono>

#if defined(SAM3RT_X86_KERNELS)
#include <cpuid.h>
#endif

#include "nn/cpu/parallel.h"
#include "sam3rt/error.h"

namespace sam3rt::nn::cpu {

namespace {
bool detect() {
#if defined(SAM3RT_X86_KERNELS)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}
}  // namespace

bool gemm_available() {
  static const bool available = detect();  // the CPU does not change while we run
  return available;
}

namespace {
// Seconds of the fastest of 3 runs after one warm-up (packing buffers, threads, oneDNN's
// kernel generation).
template <typename Run>
double best_of_3(Run&& run) {
  using Clock = std::chrono::steady_clock;
  run();
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

bool measure() {
  if (!gemm_available()) return false;
  const int64_t M = 1536, K = 1024, N = 1024;
  const at::Tensor a = at::randn({M, K}), w = at::randn({N, K}), wt = w.t().contiguous();
  at::Tensor c = at::empty({M, N});
  const double own = best_of_3([&] {
    gemm_abt(M, N, K, a.data_ptr<float>(), K, w.data_ptr<float>(), K, nullptr, c.data_ptr<float>(), N, false,
             compute_threads());
  });
  const double blas = best_of_3([&] { at::mm_out(c, a, wt); });
  return own < blas;
}
}  // namespace

bool gemm_measured_faster() {
  static const bool faster = measure();
  return faster;
}

namespace {
Bf16Support detect_bf16() {
  Bf16Support s;
#if defined(SAM3RT_X86_KERNELS)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(1, 0, &a, &b, &c, &d) == 0 || (c & (1u << 27)) == 0) return s;  // no OSXSAVE
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const bool os_avx512 = (xcr0_lo & 0xE6u) == 0xE6u;            // xmm, ymm, opmask, zmm state
  const bool os_amx = ((xcr0_lo >> 17) & 3u) == 3u;             // tile config and data state
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return s;
  const bool avx512 = (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) && (b & (1u << 31));  // f dq bw vl
  const bool amx_bf16 = (d & (1u << 22)) && (d & (1u << 24));                            // amx-bf16, amx-tile
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  const bool bf16 = __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) != 0 && (a1 & (1u << 5));
  s.avx512_bf16 = os_avx512 && avx512 && bf16;
  s.amx_bf16 = os_avx512 && os_amx && amx_bf16;
#endif
  return s;
}

Bf16Rates measure_bf16() {
  const int64_t M = 1536, K = 1024, N = 1024;
  const double flop = 2.0 * static_cast<double>(M * N * K);
  const at::Tensor a = at::randn({M, K}), w = at::randn({N, K}).to(at::kBFloat16);
  const at::Tensor a16 = a.to(at::kBFloat16), wt = w.t().contiguous();
  at::Tensor c = at::empty({M, N}), c16 = at::empty({M, N}, at::kBFloat16);
  auto rate = [&](auto&& run) { return flop / best_of_3(run) * 1e-9; };
  Bf16Rates r;
  if (gemm_bf16_available()) {
    r.own = rate([&] {
      gemm_abt_bf16(M, N, K, a.data_ptr<float>(), K, reinterpret_cast<const uint16_t*>(w.data_ptr()), K, nullptr,
                    c.data_ptr<float>(), N, false, compute_threads());
    });
  }
  r.aten = rate([&] { at::mm_out(c16, a16, wt); });
  return r;
}
}  // namespace

Bf16Support bf16_support() {
  static const Bf16Support support = detect_bf16();
  return support;
}

bool gemm_bf16_available() { return bf16_support().avx512_bf16; }

Bf16Rates gemm_bf16_measured() {
  static const Bf16Rates rates = measure_bf16();
  return rates;
}

void gemm_abt_bf16(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* W, int64_t ldw,
                   const float* bias, float* C, int64_t ldc, bool accumulate, int threads) {
  SAM3RT_CHECK(gemm_bf16_available(), kInternal, "gemm_abt_bf16 called on a CPU without AVX512-BF16");
#if defined(SAM3RT_X86_KERNELS)
  gemm_abt_bf16_avx512bf16(M, N, K, A, lda, W, ldw, bias, C, ldc, accumulate, threads);
#else
  (void)M, (void)N, (void)K, (void)A, (void)lda, (void)W, (void)ldw, (void)bias, (void)C, (void)ldc;
  (void)accumulate, (void)threads;
#endif
}

void convert_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  SAM3RT_CHECK(gemm_bf16_available(), kInternal, "convert_to_bf16 called on a CPU without AVX512-BF16");
#if defined(SAM3RT_X86_KERNELS)
  convert_to_bf16_avx512bf16(src, dst, n);
#else
  (void)src, (void)dst, (void)n;
#endif
}

void gemm_column_ranges(int64_t M, int64_t N, int64_t panel, const float* bias, float* C, int64_t ldc,
                        bool accumulate, int threads, const std::function<void(int64_t, int64_t)>& columns) {
  const int64_t panels = (N + panel - 1) / panel;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, panels));
  const int64_t per = (panels + parts - 1) / parts;
  parallel_tasks(parts, static_cast<int>(parts), [&](int64_t t, int) {
    const int64_t j_begin = t * per * panel, j_end = std::min(N, (t + 1) * per * panel);
    if (j_begin >= j_end) return;
    for (int64_t i = 0; i < M; ++i) {  // C starts as bias (or 0), or keeps its values
      float* row = C + i * ldc;
      if (!accumulate) {
        if (bias != nullptr) {
          std::copy(bias + j_begin, bias + j_end, row + j_begin);
        } else {
          std::fill(row + j_begin, row + j_end, 0.0f);
        }
      } else if (bias != nullptr) {
        for (int64_t j = j_begin; j < j_end; ++j) row[j] += bias[j];
      }
    }
    columns(j_begin, j_end);
  });
}

void gemm_abt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* W, int64_t ldw,
              const float* bias, float* C, int64_t ldc, bool accumulate, int threads) {
  SAM3RT_CHECK(gemm_available(), kInternal, "gemm_abt called without an AVX-512 kernel");
#if defined(SAM3RT_X86_KERNELS)
  gemm_abt_avx512(M, N, K, A, lda, W, ldw, bias, C, ldc, accumulate, threads);
#else
  (void)M, (void)N, (void)K, (void)A, (void)lda, (void)W, (void)ldw, (void)bias, (void)C, (void)ldc;
  (void)accumulate, (void)threads;
#endif
}

}  // namespace sam3rt::nn::cpu
