#include "nn/rope.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/complex.h>
#include <ATen/ops/outer.h>
#include <ATen/ops/pow.h>
#include <ATen/ops/view_as_complex.h>
#include <ATen/ops/view_as_real.h>

#include <vector>

#include "sam3rt/error.h"

namespace sam3rt::nn {

namespace {

// True when the last axis of t can be reinterpreted as complex pairs without a copy.
bool pairs_viewable(const at::Tensor& t) {
  if (t.stride(-1) != 1 || t.storage_offset() % 2 != 0) return false;
  for (int64_t i = 0; i + 1 < t.dim(); ++i) {
    if (t.size(i) > 1 && t.stride(i) % 2 != 0) return false;
  }
  return true;
}

}  // namespace

RopeTable::RopeTable(at::Tensor cos_, at::Tensor sin_)
    : cos(std::move(cos_)), sin(std::move(sin_)), phase(at::complex(cos, sin)) {}

RopeTable RopeTable::to(const at::Device& device) const {
  if (!cos.defined() || cos.device() == device) return *this;
  RopeTable t;
  t.cos = cos.to(device);
  t.sin = sin.to(device);
  t.phase = phase.to(device);
  return t;
}

RopeTable rope_axial_table(int64_t h, int64_t w, int64_t head_dim, double theta, double scale) {
  SAM3RT_CHECK(h > 0 && w > 0, kInternal, "RoPE grid must be non-empty, got ", h, " x ", w);
  SAM3RT_CHECK(head_dim > 0 && head_dim % 4 == 0, kUnsupported,
               "2-D RoPE needs a head width divisible by 4, got ", head_dim);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  // theta^(-4j/d) for j = 0..d/4-1, in float32 as the reference computes it.
  at::Tensor exponents = at::arange(0, head_dim, 4, f32).div(static_cast<double>(head_dim));
  at::Tensor freqs = at::pow(theta, exponents).reciprocal();  // [d/4]
  at::Tensor idx = at::arange(h * w, f32.dtype(at::kLong));
  at::Tensor x = idx.remainder(w).to(at::kFloat).mul(scale);          // [N]
  at::Tensor y = idx.div(w, "floor").to(at::kFloat).mul(scale);        // [N]
  at::Tensor angles = at::cat({at::outer(x, freqs), at::outer(y, freqs)}, 1);  // [N, d/2]
  return RopeTable(angles.cos(), angles.sin());
}

at::Tensor apply_rope(const at::Tensor& x, const RopeTable& table) {
  const int64_t d = table.head_dim();
  SAM3RT_CHECK(x.dim() >= 2 && x.size(-1) == d && x.size(-2) == table.num_tokens(), kInternal,
               "RoPE table is for ", table.num_tokens(), " tokens of width ", d, ", input has shape ", x.sizes());
  at::Tensor xf = x.to(at::kFloat);
  if (!pairs_viewable(xf)) xf = xf.contiguous();
  std::vector<int64_t> pair_shape(xf.sizes().begin(), xf.sizes().end());
  pair_shape.back() = d / 2;
  pair_shape.push_back(2);
  at::Tensor rotated = at::view_as_complex(xf.view(pair_shape)).mul(table.phase);  // [..., N, d/2] complex
  at::Tensor out = at::view_as_real(rotated).flatten(-2);                          // [..., N, d]
  return out.scalar_type() == x.scalar_type() ? out : out.to(x.scalar_type());
}

void apply_rope_tokens_heads_(const at::Tensor& x, const RopeTable& table, double scale) {
  const int64_t d = table.head_dim(), N = table.num_tokens();
  SAM3RT_CHECK(x.dim() == 4 && x.size(1) == N && x.size(3) == d && x.scalar_type() == at::kFloat &&
                   pairs_viewable(x),
               kInternal, "RoPE table is for ", N, " tokens of width ", d, ", in-place input has shape ", x.sizes());
  at::Tensor phase = scale == 1.0 ? table.phase : table.phase.mul(scale);  // [N, d/2] complex
  at::Tensor xc = at::view_as_complex(x.view({x.size(0), N, x.size(2), d / 2, 2}));  // [B, N, H, d/2]
  xc.mul_(phase.view({1, N, 1, d / 2}));
}

}  // namespace sam3rt::nn
