// Memory encoder: turns a frame's final mask and its features into memory features
// (architecture §10.6; transformers Sam3TrackerVideoMemoryEncoder): mask downsampler,
// feature projection, ConvNeXt fuser, projection to the memory width.
//
// Weight prefix: tracker_model.memory_encoder.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "nn/layers.h"

namespace sam3rt::models {

struct MaskDownsamplerLayer {
  nn::Conv2d conv;
  nn::LayerNorm2d layer_norm;
};

struct FuserBlock {
  nn::Conv2d depthwise_conv;
  nn::LayerNorm2d layer_norm;
  nn::Linear pointwise_conv1, pointwise_conv2;
  at::Tensor scale;  // [d]
};

class MemoryEncoder {
 public:
  MemoryEncoder(const TrackerVideoConfig& config, const io::WeightScope& s);

  // features [B, d, G, G] (raw tracker level at scale 1: no no_memory_embedding, not
  // memory-conditioned), mask [B, 1, G * total_stride, G * total_stride] already scaled
  // (sigmoid or binarised, then * sigmoid_scale + sigmoid_bias) -> memory features
  // [B, mem_dim, G, G] (before the occlusion embedding). Mis-shaped inputs are
  // Error(kInvalidArgument).
  at::Tensor forward(const at::Tensor& features, const at::Tensor& mask) const;

  // The memory's position encoding (normalised sine, mem_dim channels) of a G x G grid:
  // [1, mem_dim, G, G].
  at::Tensor position_encoding(int64_t grid, const at::TensorOptions& options) const;

 private:
  TrackerVideoConfig config_;
  std::vector<MaskDownsamplerLayer> downsampler_;
  nn::Conv2d downsampler_final_conv_;
  nn::Conv2d feature_projection_;
  std::vector<FuserBlock> fuser_;
  nn::Conv2d projection_;
};

}  // namespace sam3rt::models
