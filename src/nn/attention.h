// Multi-head attention with separate q/k/v/output projections: the one attention block
// of every SAM 3 module (ViT, text encoder, geometry encoder, DETR encoder and decoder,
// segmentation head, tracker mask decoder, memory attention).
//
// Weights (prefix = the attention's scope): q_proj, k_proj, v_proj and an output
// projection named `o_proj` (or `out_proj` in the CLIP text encoder), each with bias.
// internal_dim < dim gives SAM's downsampled attention; kv_dim != dim gives the memory
// attention's 64-wide keys and values.
#pragma once

#include <ATen/core/Tensor.h>

#include <string_view>

#include "nn/layers.h"

namespace sam3rt::nn {

struct AttentionMask {
  at::Tensor key_valid;  // [B, Nk] bool, true = attend; undefined = all keys valid
  at::Tensor bias;       // additive, broadcastable to [B, H, Nq, Nk]; undefined = none
  bool causal = false;   // query i sees keys 0..i
};

// A prompt's key mask: checks prompt [B, P, width] and prompt_valid [B, P] (bool or 0/1;
// undefined = every token valid) against each other and the batch, naming `who` in the
// Error(kInvalidArgument), and returns the mask for attending to the prompt.
AttentionMask prompt_mask(const at::Tensor& prompt, const at::Tensor& prompt_valid, int64_t batch, int64_t width,
                          const char* who);

// softmax(q k^T * scale + mask) v over heads. fp32 on x86 CPUs: the fused kernel of
// nn/cpu/fused_attention.h (scores stay in cache). Otherwise: chunks of query rows, so
// the score matrix never exceeds a fixed budget.
// q [B, H, Nq, d], k [B, H, Nk, d], v [B, H, Nk, dv] -> [B, H, Nq, dv].
// The result is a [B, H, Nq, dv] view of a contiguous [B, Nq, H, dv] tensor, so merging
// the heads (transpose(1, 2) + reshape) costs no copy.
at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const AttentionMask& mask, double scale);
// How the CPU computes it: the fused kernel where it applies (false: always the chunked
// path), and the bound on a score chunk in floats (0 = the default).
struct AttentionKernel {
  bool fused_cpu = true;
  int64_t score_budget = 0;
  bool bf16_cpu = false;  // the fused CPU kernel with bf16 products (a bf16 placement on AVX512-BF16)
};
at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const AttentionMask& mask, double scale, const AttentionKernel& kernel);
// The kernel choice of a placement: the fused CPU kernel as its kernels say, with bf16
// products where its matrix products are bf16.
AttentionKernel attention_kernel(const io::Placement& placement);

struct Attention {
  Linear q_proj, k_proj, v_proj, o_proj;
  int64_t num_heads = 1;
  int64_t head_dim = 0;
  AttentionKernel kernel;  // from the placement it was bound with

  Attention() = default;
  // dim: width of queries and of the output; internal_dim: width of q/k/v after
  // projection (default dim); kv_dim: width of key and value inputs (default dim).
  Attention(const io::WeightScope& s, int64_t dim, int64_t num_heads, int64_t internal_dim = -1,
            int64_t kv_dim = -1, std::string_view out_name = "o_proj");

  // q [B, Nq, dim], k [B, Nk, kv_dim], v [B, Nk, kv_dim] -> [B, Nq, dim].
  at::Tensor forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const AttentionMask& mask = {}) const;

  // The pieces, for callers that rotate q and k between projection and attention.
  at::Tensor split_heads(const at::Tensor& x) const;  // [B, N, H*d] -> [B, H, N, d]
  at::Tensor merge_heads(const at::Tensor& x) const;  // [B, H, N, d] -> [B, N, H*d]
  at::Tensor attend(const at::Tensor& qh, const at::Tensor& kh, const at::Tensor& vh,
                    const AttentionMask& mask = {}) const;  // heads in, [B, Nq, dim] out
};

}  // namespace sam3rt::nn
