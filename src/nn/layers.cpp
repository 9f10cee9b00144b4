#include "nn/layers.h"

#include <ATen/ops/mm.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/conv_transpose2d.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/group_norm.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/sigmoid.h>

#include <algorithm>

#include "nn/cpu/gemm.h"
#include "nn/cpu/parallel.h"
#include "sam3rt/error.h"

namespace sam3rt::nn {

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::kRelu;
  if (name == "gelu") return Activation::kGelu;
  if (name == "quick_gelu") return Activation::kQuickGelu;
  SAM3RT_FAIL(kUnsupported, "unsupported activation '", name, "' (relu or gelu)");
}

at::Tensor activate(const at::Tensor& x, Activation act) {
  switch (act) {
    case Activation::kNone: return x;
    case Activation::kRelu: return at::relu(x);
    case Activation::kGelu: return at::gelu(x);
    case Activation::kQuickGelu: return x.mul(at::sigmoid(x.mul(1.702)));
  }
  return x;
}

namespace {
// A multiplying layer's tensor in the placement's matmul dtype.
at::Tensor for_matmul(const at::Tensor& t, const io::WeightScope& s) {
  const at::ScalarType dt = s.placement().matmul_dtype;
  return t.defined() && t.scalar_type() != dt ? s.convert(t, dt) : t;
}

// Runs op on x in the weights' dtype and returns x's dtype.
template <typename Op>
at::Tensor in_weight_dtype(const at::Tensor& x, const at::Tensor& weight, Op op) {
  if (x.scalar_type() == weight.scalar_type()) return op(x);
  return op(x.to(weight.scalar_type())).to(x.scalar_type());
}
}  // namespace

namespace {
// sam3rt's own AVX-512 GEMM (nn/cpu/gemm.h) for float32 CPU products big enough to pay
// for packing; the BLAS otherwise.
bool own_gemm_applies(const at::Tensor& x, const at::Tensor& w) {
  if (!x.is_cpu() || x.scalar_type() != at::kFloat || w.scalar_type() != at::kFloat || !w.is_cpu() ||
      w.dim() != 2 || w.stride(1) != 1 || !cpu::gemm_available()) {
    return false;
  }
  const int64_t K = w.size(1), N = w.size(0), M = K > 0 ? x.numel() / K : 0;
  return M >= 48 && N >= 32 && M * N * K >= (int64_t{1} << 22);
}

// rows [M, K] (row stride free, elements contiguous) . w^T (+ bias) into / onto out [M, N].
void own_gemm_into(const at::Tensor& rows, const at::Tensor& w, const at::Tensor& bias, at::Tensor& out,
                   bool accumulate) {
  const int64_t M = rows.size(0), K = rows.size(1), N = w.size(0);
  cpu::gemm_abt(M, N, K, rows.data_ptr<float>(), rows.stride(0), w.data_ptr<float>(), w.stride(0),
                bias.defined() ? bias.contiguous().data_ptr<float>() : nullptr, out.data_ptr<float>(), out.stride(0),
                accumulate, cpu::compute_threads());
}

// The own AVX512-BF16 GEMM for float32 activations times bf16 weights (the output stays
// float32; the activations are rounded to bf16 inside, as ATen's bf16 product would).
bool own_bf16_gemm_applies(const at::Tensor& x, const at::Tensor& w) {
  if (!x.is_cpu() || x.scalar_type() != at::kFloat || w.scalar_type() != at::kBFloat16 || !w.is_cpu() ||
      w.dim() != 2 || w.stride(1) != 1 || !cpu::gemm_bf16_available()) {
    return false;
  }
  const int64_t K = w.size(1), N = w.size(0), M = K > 0 ? x.numel() / K : 0;
  return M >= 24 && N >= 32 && M * N * K >= (int64_t{1} << 20);
}

void own_bf16_gemm_into(const at::Tensor& rows, const at::Tensor& w, const at::Tensor& bias, at::Tensor& out,
                        bool accumulate) {
  const int64_t M = rows.size(0), K = rows.size(1), N = w.size(0);
  const at::Tensor b = bias.defined() ? bias.to(at::kFloat).contiguous() : at::Tensor();
  cpu::gemm_abt_bf16(M, N, K, rows.data_ptr<float>(), rows.stride(0), reinterpret_cast<const uint16_t*>(w.data_ptr()),
                     w.stride(0), b.defined() ? b.data_ptr<float>() : nullptr, out.data_ptr<float>(), out.stride(0),
                     accumulate, cpu::compute_threads());
}

at::Tensor as_rows(const at::Tensor& x, int64_t K) {
  at::Tensor a = x.reshape({-1, K});  // [M, K]
  return a.stride(1) == 1 ? a : a.contiguous();
}
}  // namespace

Linear::Linear(const io::WeightScope& s, int64_t in, int64_t out, bool has_bias)
    : weight(for_matmul(s.take("weight", {out, in}), s)),
      own_gemm(s.placement().kernels.own_gemm),
      own_bf16_gemm(s.placement().kernels.own_bf16_gemm) {
  if (has_bias) bias = for_matmul(s.take("bias", {out}), s);
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  const bool own32 = own_gemm && own_gemm_applies(x, weight);
  const bool own16 = !own32 && own_bf16_gemm && own_bf16_gemm_applies(x, weight);
  if (own32 || own16) {
    const int64_t K = weight.size(1), N = weight.size(0);
    const at::Tensor rows = as_rows(x, K);
    at::Tensor y = at::empty({rows.size(0), N}, x.options());  // [M, N]
    if (own32) {
      own_gemm_into(rows, weight, bias, y, false);
    } else {
      own_bf16_gemm_into(rows, weight, bias, y, false);
    }
    std::vector<int64_t> sizes = x.sizes().vec();
    sizes.back() = N;
    return y.view(sizes);
  }
  return in_weight_dtype(x, weight, [&](const at::Tensor& xi) { return at::linear(xi, weight, bias); });
}

void Linear::accumulate_into(at::Tensor& y, const at::Tensor& x) const {
  if (own_gemm && own_gemm_applies(x, weight) && y.dim() == 2 && y.stride(1) == 1) {
    own_gemm_into(as_rows(x, weight.size(1)), weight, bias, y, true);
  } else if (own_bf16_gemm && own_bf16_gemm_applies(x, weight) && y.scalar_type() == at::kFloat && y.dim() == 2 &&
             y.stride(1) == 1) {
    own_bf16_gemm_into(as_rows(x, weight.size(1)), weight, bias, y, true);
  } else if (weight.scalar_type() == y.scalar_type() && y.dim() == 2) {
    if (bias.defined()) y.add_(bias);
    y.addmm_(x.reshape({-1, weight.size(1)}), weight.t());
  } else {
    y.add_(forward(x).view(y.sizes()));
  }
}

LayerNorm::LayerNorm(const io::WeightScope& s, int64_t dim, double eps_)
    : weight(s.take("weight", {dim})), bias(s.take("bias", {dim})), eps(eps_) {}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  return at::layer_norm(x, {weight.size(0)}, weight, bias, eps);
}

LayerNorm2d::LayerNorm2d(const io::WeightScope& s, int64_t channels, double eps_)
    : weight(s.take("weight", {channels})), bias(s.take("bias", {channels})), eps(eps_) {}

at::Tensor LayerNorm2d::forward(const at::Tensor& x) const {
  // Normalise over C by moving it last: [B, C, H, W] -> [B, H, W, C] -> back.
  at::Tensor y = at::layer_norm(x.permute({0, 2, 3, 1}), {weight.size(0)}, weight, bias, eps);
  return y.permute({0, 3, 1, 2});
}

GroupNorm::GroupNorm(const io::WeightScope& s, int64_t groups_, int64_t channels, double eps_)
    : weight(s.take("weight", {channels})), bias(s.take("bias", {channels})), groups(groups_), eps(eps_) {}

at::Tensor GroupNorm::forward(const at::Tensor& x) const { return at::group_norm(x, groups, weight, bias, eps); }

Conv2d::Conv2d(const io::WeightScope& s, int64_t in, int64_t out, int64_t kernel, int64_t stride_,
               int64_t padding_, bool has_bias, int64_t groups_)
    : weight(for_matmul(s.take("weight", {out, in / groups_, kernel, kernel}), s)),
      stride(stride_),
      padding(padding_),
      groups(groups_) {
  if (has_bias) bias = for_matmul(s.take("bias", {out}), s);
}

at::Tensor Conv2d::forward(const at::Tensor& x) const {
  return in_weight_dtype(x, weight, [&](const at::Tensor& xi) {
    return at::conv2d(xi, weight, bias, {stride, stride}, {padding, padding}, {1, 1}, groups);
  });
}

ConvTranspose2d::ConvTranspose2d(const io::WeightScope& s, int64_t in, int64_t out, int64_t kernel, int64_t stride_)
    : weight(for_matmul(s.take("weight", {in, out, kernel, kernel}), s)),
      bias(for_matmul(s.take("bias", {out}), s)),
      stride(stride_) {}

at::Tensor ConvTranspose2d::forward(const at::Tensor& x) const {
  const int64_t C = weight.size(0), O = weight.size(1), k = weight.size(2);
  if (stride != k || weight.size(3) != k) {
    return in_weight_dtype(x, weight,
                           [&](const at::Tensor& xi) { return at::conv_transpose2d(xi, weight, bias, {stride, stride}); });
  }
  // Kernel = stride (every SAM 3 upsampler): the output patches do not overlap, so the
  // layer is one GEMM per pixel and a pixel shuffle. Faster than the generic kernel on CPU,
  // and the only form libtorch 1.13 runs correctly in bf16 there.
  return in_weight_dtype(x, weight, [&](const at::Tensor& xi) {
    const int64_t B = xi.size(0), H = xi.size(2), W = xi.size(3);
    const at::Tensor rows = xi.permute({0, 2, 3, 1}).reshape({B * H * W, C});               // [BHW, C]
    const at::Tensor y = at::mm(rows, weight.reshape({C, O * k * k}));                      // [BHW, O k k]
    return y.view({B, H, W, O, k, k})
        .permute({0, 3, 1, 4, 2, 5})
        .reshape({B, O, H * k, W * k})                                                       // [B, O, kH, kW]
        .add_(bias.view({1, O, 1, 1}));
  });
}

Mlp::Mlp(const io::WeightScope& s, const std::vector<int64_t>& dims, Activation act_, Naming naming) : act(act_) {
  SAM3RT_CHECK(dims.size() >= 2, kInternal, "Mlp needs at least input and output sizes");
  const size_t n = dims.size() - 1;
  for (size_t i = 0; i < n; ++i) {
    io::WeightScope ls = s;
    switch (naming) {
      case Naming::kFc: ls = s.sub("fc" + std::to_string(i + 1)); break;
      case Naming::kLayerN: ls = s.sub("layer" + std::to_string(i + 1)); break;
      case Naming::kLayersN: ls = s.sub("layers", static_cast<int64_t>(i)); break;
      case Naming::kLinearN: ls = s.sub("linear" + std::to_string(i + 1)); break;
      case Naming::kProjInOut:
        ls = i == 0 ? s.sub("proj_in") : (i + 1 == n ? s.sub("proj_out") : s.sub("layers", static_cast<int64_t>(i - 1)));
        break;
    }
    layers.emplace_back(ls, dims[i], dims[i + 1]);
  }
}

namespace {
// Hidden activations of a row chunk stay below this many floats (16 MiB), so that the
// big MLPs (DETR encoder: 5184 tokens x 2048) reuse heap blocks instead of faulting in
// fresh pages on every call (pipeline/memory_tuning.h).
constexpr int64_t kMlpHiddenBudget = 4ll << 20;
}  // namespace

at::Tensor Mlp::forward(const at::Tensor& x) const {
  auto run = [&](const at::Tensor& in) {
    at::Tensor h = in;
    for (size_t i = 0; i < layers.size(); ++i) {
      h = layers[i].forward(h);
      if (i + 1 < layers.size()) h = activate(h, act);
    }
    return h;
  };
  int64_t widest = 0;
  for (const Linear& l : layers) widest = std::max(widest, l.weight.size(0));
  const int64_t in = x.dim() > 0 ? x.size(-1) : 0;
  const int64_t rows = in > 0 ? x.numel() / in : 0;
  at::Tensor h;
  if (x.is_cpu() && x.dim() >= 2 && widest > 0 && rows * widest > kMlpHiddenBudget && layers.size() >= 2) {
    const int64_t chunk = std::max<int64_t>(1, kMlpHiddenBudget / widest);
    const at::Tensor x2 = x.reshape({rows, in});
    const int64_t out_dim = layers.back().weight.size(0);
    h = at::empty({rows, out_dim}, x.options());
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t rn = std::min(chunk, rows - r0);
      h.narrow(0, r0, rn).copy_(run(x2.narrow(0, r0, rn)));
    }
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = out_dim;
    h = h.view(shape);
  } else {
    h = run(x);
  }
  return sigmoid_output ? at::sigmoid(h) : h;
}

}  // namespace sam3rt::nn
