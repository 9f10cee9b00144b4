#include "nn/attention.h"

#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/_softmax.h>
#include <ATen/ops/triu.h>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>
#include <limits>

#include "nn/compat.h"
#include "nn/cpu/fused_attention.h"
#include "nn/cpu/parallel.h"
#include "sam3rt/error.h"

namespace sam3rt::nn {

namespace {
// Scores live in one buffer of at most this many floats (128 MiB), reused by every chunk
// of a call; larger problems go in chunks of heads and query rows. Few, large chunks: on
// the 2-core machines every BLAS call and every parallel ATen op hands work between two
// thread pools, which costs more than the extra memory traffic of big chunks (`attention`
// stage of bench/sam3rt_bench, quiet machine: ViT global attention, 16 heads x 5184^2,
// 2.85 / 1.49 / 1.10 s with 4 / 24 / 64 MiB chunks; DETR encoder, 8 heads x 5184^2, 1.03 /
// 0.57 / 0.44 s, 0.37 s with one 107 MiB chunk per head; docs/performance.md).
constexpr int64_t kScoreBudget = 32ll << 20;

// The most negative finite value of a floating dtype (as a double).
double lowest_finite(at::ScalarType t) {
  switch (t) {
    case at::kBFloat16:
      return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    case at::kHalf:
      return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    case at::kDouble:
      return std::numeric_limits<double>::lowest();
    default:
      return static_cast<double>(std::numeric_limits<float>::lowest());
  }
}

bool rows_contiguous(const at::Tensor& t) { return t.stride(3) == 1 || t.size(3) == 1; }

// The fused kernel (nn/cpu/fused_attention.h) for fp32 CPU tensors whose rows are
// contiguous; false when it does not apply and the chunked path below runs.
bool fused_cpu_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& additive,
                         double scale, bool bf16, at::Tensor& out) {
  if (!q.device().is_cpu() || q.scalar_type() != at::kFloat || k.scalar_type() != at::kFloat ||
      v.scalar_type() != at::kFloat || !k.device().is_cpu() || !v.device().is_cpu() ||
      !cpu::fused_attention_supports(q.size(3), v.size(3)) || !rows_contiguous(q) || !rows_contiguous(k) ||
      !rows_contiguous(v) || k.size(3) != q.size(3)) {
    return false;
  }
  const int64_t B = q.size(0), H = q.size(1), Nq = q.size(2), Nk = k.size(2);
  at::Tensor bias;
  if (additive.defined()) {
    if (additive.device() != q.device()) return false;
    bias = additive.to(at::kFloat).expand({B, H, Nq, Nk});  // broadcast dimensions get stride 0
  }
  cpu::AttentionProblem p;
  p.batch = B;
  p.heads = H;
  p.num_queries = Nq;
  p.num_keys = Nk;
  p.head_dim = q.size(3);
  p.value_dim = v.size(3);
  p.scale = static_cast<float>(scale);
  p.bf16_products = bf16 && cpu::fused_attention_bf16_available();
  auto set = [](const at::Tensor& t, int64_t* stride) {
    for (int i = 0; i < 3; ++i) stride[i] = t.size(i) == 1 ? 0 : t.stride(i);
  };
  p.q = q.data_ptr<float>();
  set(q, p.q_stride);
  p.k = k.data_ptr<float>();
  set(k, p.k_stride);
  p.v = v.data_ptr<float>();
  set(v, p.v_stride);
  p.out = out.data_ptr<float>();
  set(out, p.out_stride);
  if (bias.defined()) {
    p.bias = bias.data_ptr<float>();
    for (int i = 0; i < 4; ++i) p.bias_stride[i] = bias.size(i) == 1 ? 0 : bias.stride(i);
  }
  cpu::fused_attention(p, cpu::compute_threads());
  return true;
}
}  // namespace

AttentionMask prompt_mask(const at::Tensor& prompt, const at::Tensor& prompt_valid, int64_t batch, int64_t width,
                          const char* who) {
  SAM3RT_CHECK(prompt.defined() && prompt.dim() == 3 && prompt.size(0) == batch && prompt.size(2) == width,
               kInvalidArgument, who, ": prompt must be [", batch, ", P, ", width, "], got ",
               prompt.defined() ? prompt.sizes() : at::IntArrayRef{});
  SAM3RT_CHECK(!prompt_valid.defined() || (prompt_valid.dim() == 2 && prompt_valid.size(0) == batch &&
                                           prompt_valid.size(1) == prompt.size(1)),
               kInvalidArgument, who, ": prompt mask ", prompt_valid.sizes(), " does not match prompt ", prompt.sizes());
  AttentionMask m;
  if (prompt_valid.defined()) m.key_valid = prompt_valid.to(prompt.device(), at::kBool);
  return m;
}

at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const AttentionMask& mask, double scale) {
  return scaled_dot_product_attention(q, k, v, mask, scale, AttentionKernel{});
}

at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const AttentionMask& mask, double scale, const AttentionKernel& kernel) {
  const int64_t budget = kernel.score_budget > 0 ? kernel.score_budget : kScoreBudget;
  SAM3RT_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, kInternal, "attention expects [B, H, N, d] inputs");
  const int64_t B = q.size(0), H = q.size(1), Nq = q.size(2);
  const int64_t Nk = k.size(2), dv = v.size(3);

  // Additive mask from key validity and causality, in float32: the most negative finite
  // value, as transformers does, so a fully masked row stays finite.
  at::Tensor additive;
  const float neg = std::numeric_limits<float>::lowest();
  const auto fopts = q.options().dtype(at::kFloat);
  if (mask.key_valid.defined()) {
    additive = at::zeros({B, 1, 1, Nk}, fopts)
                   .masked_fill(mask.key_valid.to(q.device()).logical_not().view({B, 1, 1, Nk}), neg);
  }
  if (mask.causal) {
    at::Tensor c = at::ones({Nq, Nk}, q.options().dtype(at::kBool)).triu(1);
    at::Tensor cm = at::zeros({1, 1, Nq, Nk}, fopts).masked_fill(c.view({1, 1, Nq, Nk}), neg);
    additive = additive.defined() ? additive.add(cm).clamp_min(neg) : cm;
  }
  if (mask.bias.defined()) {
    const at::Tensor bias = mask.bias.to(q.device());
    additive = additive.defined() ? additive.add(bias) : bias;
  }
  if (additive.defined()) {
    while (additive.dim() < 4) additive = additive.unsqueeze(0);
  }

  if (compat::kHaveSdpa && q.is_cuda()) {
    // LibTorch's flash / memory-efficient kernels; their softmax accumulates in fp32. The
    // mask goes in q's dtype, its masked entries at that dtype's most negative finite
    // value (float's lowest would become -inf in bf16, and a fully masked row NaN).
    at::Tensor m = additive;
    if (m.defined() && m.scalar_type() != q.scalar_type()) {
      m = m.to(at::kFloat).clamp_min(lowest_finite(q.scalar_type())).to(q.scalar_type());
    }
    return compat::fused_sdpa(q, k, v, m, scale);
  }
  if (additive.defined() && additive.scalar_type() != q.scalar_type()) additive = additive.to(q.scalar_type());

  // Output laid out [B, Nq, H, dv] and returned as its [B, H, Nq, dv] view, so that
  // merging the heads afterwards is free.
  at::Tensor out_bnhd = at::empty({B, Nq, H, dv}, q.options());
  at::Tensor out = out_bnhd.transpose(1, 2);  // [B, H, Nq, dv]

  if (kernel.fused_cpu && fused_cpu_attention(q, k, v, additive, scale, kernel.bf16_cpu, out)) return out;

  // Chunks: as many query rows as fit the budget for one head, then as many heads.
  const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(Nq, budget / std::max<int64_t>(1, Nk)));
  const int64_t heads = std::max<int64_t>(1, std::min<int64_t>(H, budget / std::max<int64_t>(1, rows * Nk)));
  // baddbmm with beta 0 may still read its input (0 * NaN) on small sizes, so the buffer
  // starts zeroed when the scale is applied there; with scale 1 (folded into q by the
  // caller) plain bmm writes it.
  const bool scaled = scale != 1.0;
  at::Tensor buffer = scaled ? at::zeros({heads * rows * Nk}, q.options()) : at::empty({heads * rows * Nk}, q.options());
  for (int64_t b = 0; b < B; ++b) {
    const at::Tensor qb = q.select(0, b), kbt = k.select(0, b).transpose(-2, -1), vb = v.select(0, b);
    const at::Tensor ob = out.select(0, b);  // [H, Nq, dv], strided
    at::Tensor ab;
    if (additive.defined()) ab = additive.select(0, additive.size(0) == 1 ? 0 : b);  // [1 or H, 1 or Nq, Nk]
    for (int64_t h0 = 0; h0 < H; h0 += heads) {
      const int64_t hn = std::min(heads, H - h0);
      for (int64_t r0 = 0; r0 < Nq; r0 += rows) {
        const int64_t rn = std::min(rows, Nq - r0);
        at::Tensor s = buffer.narrow(0, 0, hn * rn * Nk).view({hn, rn, Nk});
        const at::Tensor qc = qb.narrow(0, h0, hn).narrow(1, r0, rn), kc = kbt.narrow(0, h0, hn);
        if (scaled) {
          at::baddbmm_out(s, s, qc, kc, 0.0, scale);
        } else {
          at::bmm_out(s, qc, kc);
        }
        if (ab.defined()) {
          at::Tensor a = ab.size(0) == 1 ? ab : ab.narrow(0, h0, hn);
          if (a.size(1) != 1) a = a.narrow(1, r0, rn);
          s.add_(a);
        }
        at::_softmax_out(s, s, -1, false);
        at::Tensor o = ob.narrow(0, h0, hn).narrow(1, r0, rn);  // [hn, rn, dv], rows contiguous
        at::bmm_out(o, s, vb.narrow(0, h0, hn));
      }
    }
  }
  return out;
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
  kernel = attention_kernel(s.placement());
}

AttentionKernel attention_kernel(const io::Placement& placement) {
  AttentionKernel k;
  k.fused_cpu = placement.kernels.fused_attention;
  k.bf16_cpu = placement.device.is_cpu() && placement.matmul_dtype == at::kBFloat16 && placement.kernels.bf16_attention;
  return k;
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
  // With bf16 products on a GPU, the attention runs in bf16 too (LibTorch's fused kernels
  // keep the softmax in fp32); on CPU it stays fp32 (the fused CPU kernel).
  const at::ScalarType dt = o_proj.weight.scalar_type();
  if (qh.is_cuda() && dt != qh.scalar_type()) {
    const at::Tensor o = scaled_dot_product_attention(qh.to(dt), kh.to(dt), vh.to(dt), mask, scale, kernel);
    return o_proj.forward(merge_heads(o).to(qh.scalar_type()));
  }
  return o_proj.forward(merge_heads(scaled_dot_product_attention(qh, kh, vh, mask, scale, kernel)));
}

at::Tensor Attention::forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const AttentionMask& mask) const {
  return attend(split_heads(q_proj.forward(q)), split_heads(k_proj.forward(k)), split_heads(v_proj.forward(v)), mask);
}

}  // namespace sam3rt::nn
