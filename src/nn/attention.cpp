#include "nn/attention.h"

#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/triu.h>

#include <cmath>
#include <limits>

#include "sam3rt/error.h"

namespace sam3rt::nn {

namespace {
// Scores computed at once: 64 Mi floats (256 MB). Larger problems go in query chunks.
constexpr int64_t kMaxScoreElements = 64ll << 20;
}  // namespace

at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const AttentionMask& mask, double scale) {
  SAM3RT_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, kInternal, "attention expects [B, H, N, d] inputs");
  const int64_t B = q.size(0), H = q.size(1), Nq = q.size(2), d = q.size(3);
  const int64_t Nk = k.size(2), dv = v.size(3);

  // Additive mask from key validity and causality, in the scores' dtype: the most
  // negative finite value, as transformers does, so a fully masked row stays finite.
  at::Tensor additive;
  const float neg = std::numeric_limits<float>::lowest();
  if (mask.key_valid.defined()) {
    additive = at::zeros({B, 1, 1, Nk}, q.options()).masked_fill(mask.key_valid.logical_not().view({B, 1, 1, Nk}), neg);
  }
  if (mask.causal) {
    at::Tensor c = at::ones({Nq, Nk}, q.options().dtype(at::kBool)).triu(1);
    at::Tensor cm = at::zeros({1, 1, Nq, Nk}, q.options()).masked_fill(c.view({1, 1, Nq, Nk}), neg);
    additive = additive.defined() ? additive.add(cm).clamp_min(neg) : cm;
  }
  if (mask.bias.defined()) additive = additive.defined() ? additive.add(mask.bias) : mask.bias;

  at::Tensor q3 = q.reshape({B * H, Nq, d});
  at::Tensor k3t = k.reshape({B * H, Nk, d}).transpose(1, 2);
  at::Tensor v3 = v.reshape({B * H, Nk, dv});
  at::Tensor out = at::empty({B * H, Nq, dv}, q.options());

  const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(Nq, kMaxScoreElements / std::max<int64_t>(1, B * H * Nk)));
  for (int64_t r0 = 0; r0 < Nq; r0 += rows) {
    const int64_t r1 = std::min(Nq, r0 + rows);
    at::Tensor scores = at::bmm(q3.slice(1, r0, r1), k3t).mul_(scale);  // [B*H, r, Nk]
    if (additive.defined()) {
      at::Tensor a = additive.expand({B, H, Nq, Nk}).slice(2, r0, r1).reshape({B * H, r1 - r0, Nk});
      scores.add_(a);
    }
    at::Tensor probs = at::softmax(scores, -1);
    at::Tensor o = out.slice(1, r0, r1);
    at::bmm_out(o, probs, v3);
  }
  return out.view({B, H, Nq, dv});
}

Attention::Attention(const io::WeightScope& s, int64_t dim, int64_t heads, int64_t internal_dim, int64_t kv_dim,
                     std::string_view out_name) {
  if (internal_dim < 0) internal_dim = dim;
  if (kv_dim < 0) kv_dim = dim;
  SAM3RT_CHECK(heads > 0 && internal_dim % heads == 0, kInternal, s.prefix(), ": ", heads,
               " heads do not divide width ", internal_dim);
  q_proj = Linear(s.sub("q_proj"), dim, internal_dim);
  k_proj = Linear(s.sub("k_proj"), kv_dim, internal_dim);
  v_proj = Linear(s.sub("v_proj"), kv_dim, internal_dim);
  o_proj = Linear(s.sub(out_name), internal_dim, dim);
  num_heads = heads;
  head_dim = internal_dim / heads;
}

at::Tensor Attention::split_heads(const at::Tensor& x) const {
  return x.view({x.size(0), x.size(1), num_heads, head_dim}).transpose(1, 2);
}

at::Tensor Attention::merge_heads(const at::Tensor& x) const {
  return x.transpose(1, 2).reshape({x.size(0), x.size(2), num_heads * head_dim});
}

at::Tensor Attention::attend(const at::Tensor& qh, const at::Tensor& kh, const at::Tensor& vh,
                             const AttentionMask& mask) const {
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  return o_proj.forward(merge_heads(scaled_dot_product_attention(qh, kh, vh, mask, scale)));
}

at::Tensor Attention::forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const AttentionMask& mask) const {
  return attend(split_heads(q_proj.forward(q)), split_heads(k_proj.forward(k)), split_heads(v_proj.forward(v)), mask);
}

}  // namespace sam3rt::nn
