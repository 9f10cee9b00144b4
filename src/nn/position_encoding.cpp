#include "nn/position_encoding.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/pow.h>
#include <ATen/ops/stack.h>

namespace sam3rt::nn {

namespace {

// d_k = T^(2 floor(k/2) / n), computed in the values' dtype like the reference.
at::Tensor divisors(int64_t num_feats, double temperature, const at::TensorOptions& options) {
  at::Tensor k = at::arange(num_feats, options.dtype(at::kLong)).div(2, "floor").to(options.dtype());
  return at::pow(temperature, k.mul(2.0).div(static_cast<double>(num_feats)));
}

// [..., n] of v / d_k -> interleaved sin (even k) / cos (odd k).
at::Tensor interleave_sin_cos(const at::Tensor& scaled) {
  const int64_t n = scaled.size(-1);
  at::Tensor s = scaled.slice(-1, 0, n, 2).sin();
  at::Tensor c = scaled.slice(-1, 1, n, 2).cos();
  return at::stack({s, c}, -1).flatten(-2);
}

}  // namespace

at::Tensor sine_encode(const at::Tensor& values, int64_t num_feats, double temperature, double scale) {
  at::Tensor d = divisors(num_feats, temperature, values.options());
  return interleave_sin_cos(values.mul(scale).unsqueeze(-1).div(d));
}

at::Tensor sine_position_grid(int64_t h, int64_t w, int64_t channels, const at::TensorOptions& options) {
  const int64_t n = channels / 2;
  constexpr double kEps = 1e-6;
  at::Tensor y = at::arange(1, h + 1, options).div(static_cast<double>(h) + kEps).mul(kTwoPi);  // [h]
  at::Tensor x = at::arange(1, w + 1, options).div(static_cast<double>(w) + kEps).mul(kTwoPi);  // [w]
  at::Tensor d = divisors(n, 10000.0, options);
  at::Tensor py = interleave_sin_cos(y.unsqueeze(-1).div(d));  // [h, n]
  at::Tensor px = interleave_sin_cos(x.unsqueeze(-1).div(d));  // [w, n]
  at::Tensor grid = at::cat({py.view({h, 1, n}).expand({h, w, n}), px.view({1, w, n}).expand({h, w, n})}, -1);
  return grid.permute({2, 0, 1}).unsqueeze(0).contiguous();  // [1, 2n, h, w]
}

at::Tensor sine_encode_boxes(const at::Tensor& boxes, int64_t num_feats) {
  at::Tensor cx = sine_encode(boxes.select(-1, 0), num_feats);
  at::Tensor cy = sine_encode(boxes.select(-1, 1), num_feats);
  at::Tensor w = sine_encode(boxes.select(-1, 2), num_feats);
  at::Tensor h = sine_encode(boxes.select(-1, 3), num_feats);
  return at::cat({cy, cx, w, h}, -1);
}

}  // namespace sam3rt::nn
