#include "nn/cpu/gemm.h"

#include <cstdlib>
#include <cstring>

#include "sam3rt/error.h"

namespace sam3rt::nn::cpu {

namespace {
bool detect() {
#if defined(SAM3RT_X86_KERNELS)
  const char* env = std::getenv("SAM3RT_GEMM");
  if (env != nullptr && std::strcmp(env, "off") == 0) return false;
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
