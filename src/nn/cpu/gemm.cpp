#include "nn/cpu/gemm.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/randn.h>

#include <algorithm>
#include <chrono>

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
bool measure() {
  if (!gemm_available()) return false;
  using Clock = std::chrono::steady_clock;
  const int64_t M = 1536, K = 1024, N = 1024;
  const at::Tensor a = at::randn({M, K}), w = at::randn({N, K}), wt = w.t().contiguous();
  at::Tensor c = at::empty({M, N});
  auto best_of_3 = [](auto&& run) {
    run();  // warm-up: packing buffers, thread start
    double best = 1e30;
    for (int i = 0; i < 3; ++i) {
      const auto t0 = Clock::now();
      run();
      best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    return best;
  };
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
