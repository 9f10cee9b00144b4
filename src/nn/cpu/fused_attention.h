// Fused scaled-dot-product attention for fp32 on x86 CPUs (AVX-512 or AVX2 + FMA).
//
// softmax(q k^T * scale + bias) v, one block of query rows at a time: the block's scores
// against one block of keys stay in the core's cache, the softmax is the running
// ("online") form that rescales the partial output when a later key block raises a row's
// maximum, and the output row is divided by its sum once at the end. No score matrix is
// ever written to memory, so the cost is the two products plus one exp per score, instead
// of the products plus three passes over a [rows, Nk] matrix in RAM. The products are
// register-blocked micro-kernels; tasks (batch, head, query block) run on
// parallel_tasks' threads.
#pragma once

#include <cstdint>

namespace sam3rt::nn::cpu {

// Strided fp32 views, strides in elements for (batch, head, row); every row (the last
// dimension) is contiguous. bias (optional) is read as bias[b*s0 + h*s1 + i*s2 + j*s3];
// a stride of 0 broadcasts that dimension.
struct AttentionProblem {
  int64_t batch = 0, heads = 0, num_queries = 0, num_keys = 0, head_dim = 0, value_dim = 0;
  float scale = 1.0f;
  const float* q = nullptr;
  int64_t q_stride[3] = {0, 0, 0};
  const float* k = nullptr;
  int64_t k_stride[3] = {0, 0, 0};
  const float* v = nullptr;
  int64_t v_stride[3] = {0, 0, 0};
  float* out = nullptr;
  int64_t out_stride[3] = {0, 0, 0};
  const float* bias = nullptr;
  int64_t bias_stride[4] = {0, 0, 0, 0};
  // Both products in bf16 (q * scale, K, V and the probabilities rounded to bf16, float32
  // accumulation and softmax) on the AVX512-BF16 kernel; needs fused_attention_bf16_available().
  bool bf16_products = false;
};

// The instruction set the kernel uses on this CPU: "avx512", "avx2" or "" (no kernel:
// callers take the unfused path). SAM3RT_FUSED_ATTENTION=off|avx2 in the environment
// restricts it (to compare paths in benchmarks).
const char* fused_attention_isa();

// Whether the kernel takes a problem of these widths (any value_dim, e.g. SAM 2's 56 and
// 72; head_dim at most 512) on this CPU.
bool fused_attention_supports(int64_t head_dim, int64_t value_dim);

// Whether the bf16-product kernel runs here (a CPU with AVX512-BF16).
bool fused_attention_bf16_available();

// Computes p.out. Requires fused_attention_supports(); `threads` >= 1.
void fused_attention(const AttentionProblem& p, int threads);

#if defined(__x86_64__)
// One instruction set's kernel, whatever fused_attention_isa() chose (tests compare both).
// The CPU must have it.
void fused_attention_avx512(const AttentionProblem& p, int threads);
void fused_attention_avx2(const AttentionProblem& p, int threads);
void fused_attention_bf16_avx512bf16(const AttentionProblem& p, int threads);
#endif

}  // namespace sam3rt::nn::cpu
