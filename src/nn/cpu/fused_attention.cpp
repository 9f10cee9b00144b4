#include "nn/cpu/fused_attention.h"

#include <cstdlib>
#include <cstring>

#include "nn/cpu/gemm.h"
#include "sam3rt/error.h"

namespace sam3rt::nn::cpu {

namespace {

enum class Isa { kNone, kAvx2, kAvx512 };

Isa detect() {
#if defined(SAM3RT_X86_KERNELS)
  const char* env = std::getenv("SAM3RT_FUSED_ATTENTION");
  const bool off = env != nullptr && std::strcmp(env, "off") == 0;
  const bool avx2_only = env != nullptr && std::strcmp(env, "avx2") == 0;
  if (off) return Isa::kNone;
  __builtin_cpu_init();
  if (!avx2_only && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
  return Isa::kNone;
}

Isa isa() {
  static const Isa chosen = detect();  // the CPU does not change while we run
  return chosen;
}

int vector_width(Isa i) { return i == Isa::kAvx512 ? 16 : i == Isa::kAvx2 ? 8 : 0; }

}  // namespace

const char* fused_attention_isa() {
  switch (isa()) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "";
  }
}

bool fused_attention_supports(int64_t head_dim, int64_t value_dim) {
  const int w = vector_width(isa());
  return w > 0 && head_dim > 0 && head_dim <= 512 && value_dim > 0;
}

bool fused_attention_bf16_available() { return isa() == Isa::kAvx512 && bf16_support().avx512_bf16; }

void fused_attention(const AttentionProblem& p, int threads) {
  SAM3RT_CHECK(fused_attention_supports(p.head_dim, p.value_dim), kInternal,
               "fused attention called for head width ", p.head_dim, " / value width ", p.value_dim,
               " on a CPU path that does not take it");
  SAM3RT_CHECK(!p.bf16_products || fused_attention_bf16_available(), kInternal,
               "bf16 fused attention called on a CPU without AVX512-BF16");
#if defined(SAM3RT_X86_KERNELS)
  if (p.bf16_products) return fused_attention_bf16_avx512bf16(p, threads);
  if (isa() == Isa::kAvx512) return fused_attention_avx512(p, threads);
  return fused_attention_avx2(p, threads);
#else
  (void)threads;
#endif
}

}  // namespace sam3rt::nn::cpu
