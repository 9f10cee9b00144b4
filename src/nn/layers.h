// The parametrised building blocks every SAM 3 module is made of: Linear, LayerNorm
// (over the last axis or over channels of NCHW), Conv2d, ConvTranspose2d, Embedding
// tables and multi-layer perceptrons.
//
// Each block binds its own tensors from a WeightScope in its constructor, using the
// checkpoint's leaf names ("weight", "bias"), with shapes from the caller. Blocks are
// immutable after construction; forward() is const and thread-safe.
//
// Precision: Linear, Conv2d and ConvTranspose2d keep their weights in the placement's
// matmul dtype (io::Placement); when it differs from the input's dtype, forward() runs
// the product in the weights' dtype and returns the input's dtype. Norms always compute
// in the input's dtype with float32 parameters.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "io/weights.h"

namespace sam3rt::nn {

enum class Activation { kNone, kRelu, kGelu, kQuickGelu };

// Parses "relu" / "gelu" (exact erf GELU, as every GELU in SAM 3) / "quick_gelu"
// (x * sigmoid(1.702 x), CLIP's original).
Activation parse_activation(const std::string& name);
at::Tensor activate(const at::Tensor& x, Activation act);

// y = x W^T + b.  Weight "weight" [out, in], optional "bias" [out].
struct Linear {
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  bool own_gemm = false;       // the placement's choice: sam3rt's own CPU GEMM where it applies
  bool own_bf16_gemm = false;  // the same for bf16 weights: the own AVX512-BF16 GEMM
  Linear() = default;
  Linear(const io::WeightScope& s, int64_t in, int64_t out, bool has_bias = true);
  at::Tensor forward(const at::Tensor& x) const;  // [..., in] -> [..., out]
  // y += x W^T + b without a temporary where the precision allows: y [M, out], x [M, in].
  void accumulate_into(at::Tensor& y, const at::Tensor& x) const;
};

// LayerNorm over the last axis.  "weight" [dim], "bias" [dim].
struct LayerNorm {
  at::Tensor weight, bias;  // [dim]
  double eps = 1e-5;
  LayerNorm() = default;
  LayerNorm(const io::WeightScope& s, int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;  // [..., dim]
};

// LayerNorm over the channel axis of an NCHW tensor (SAM's LayerNorm2d).
struct LayerNorm2d {
  at::Tensor weight, bias;  // [C]
  double eps = 1e-6;
  LayerNorm2d() = default;
  LayerNorm2d(const io::WeightScope& s, int64_t channels, double eps);
  at::Tensor forward(const at::Tensor& x) const;  // [B, C, H, W]
};

struct GroupNorm {
  at::Tensor weight, bias;  // [C]
  int64_t groups = 1;
  double eps = 1e-5;
  GroupNorm() = default;
  GroupNorm(const io::WeightScope& s, int64_t groups, int64_t channels, double eps);
  at::Tensor forward(const at::Tensor& x) const;  // [B, C, H, W]
};

struct Conv2d {
  at::Tensor weight;  // [out, in / groups, k, k]
  at::Tensor bias;    // [out] or undefined
  int64_t stride = 1, padding = 0, groups = 1;
  Conv2d() = default;
  Conv2d(const io::WeightScope& s, int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
         int64_t padding = 0, bool has_bias = true, int64_t groups = 1);
  at::Tensor forward(const at::Tensor& x) const;  // [B, in, H, W] -> [B, out, H', W']
};

struct ConvTranspose2d {
  at::Tensor weight;  // [in, out, k, k]
  at::Tensor bias;    // [out]
  int64_t stride = 2;
  ConvTranspose2d() = default;
  ConvTranspose2d(const io::WeightScope& s, int64_t in, int64_t out, int64_t kernel, int64_t stride);
  at::Tensor forward(const at::Tensor& x) const;
};

// A stack of Linear layers with an activation between them (none after the last).
// Checkpoints name the layers in three ways; `Naming` picks one:
//   kFc        fc1, fc2                       (transformer FFNs)
//   kLayerN    layer1, layer2, layer3         (detector heads)
//   kLayersN   layers.0, layers.1, ...        (mask embedder)
//   kProjInOut proj_in, layers.0.., proj_out  (SAM mask decoder heads)
//   kLinearN   linear1, linear2               (memory attention FFN)
struct Mlp {
  enum class Naming { kFc, kLayerN, kLayersN, kProjInOut, kLinearN };
  std::vector<Linear> layers;
  Activation act = Activation::kRelu;
  bool sigmoid_output = false;
  Mlp() = default;
  // dims = {in, hidden..., out}: dims.size() - 1 layers.
  Mlp(const io::WeightScope& s, const std::vector<int64_t>& dims, Activation act, Naming naming);
  at::Tensor forward(const at::Tensor& x) const;
};

}  // namespace sam3rt::nn
