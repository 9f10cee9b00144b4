// SAM-style prompt encoder of the tracker (architecture §10.2; transformers
// Sam3TrackerPromptEncoder): points with labels, boxes as two labelled corners, a dense
// mask input, and the random-Fourier positional encoding shared with the image PE.
//
// Weight prefix: tracker_model.prompt_encoder (and tracker_model.shared_image_embedding
// for the image positional encoding, bound by the tracker).
#pragma once

#include <ATen/core/Tensor.h>

#include "io/config.h"
#include "io/weights.h"
#include "nn/layers.h"

namespace sam3rt::models {

// Random Fourier features: PE(x, y) = [sin(2 pi u G), cos(2 pi u G)], u = 2 (x, y) - 1.
struct FourierPositionalEncoding {
  at::Tensor gaussian;  // [2, d/2] "positional_embedding"
  double scale = 1.0;
  FourierPositionalEncoding() = default;
  FourierPositionalEncoding(const io::WeightScope& s, int64_t d, double scale);
  // coords [..., 2] in [0, 1] -> [..., d].
  at::Tensor forward(const at::Tensor& coords) const;
  // PE of the cell centres of an h x w grid -> [1, d, h, w].
  at::Tensor grid(int64_t h, int64_t w) const;
};

struct PromptEmbeddings {
  at::Tensor sparse;  // [B, P, N, d]
  at::Tensor dense;   // [B, d, G, G]
};

class PromptEncoder {
 public:
  PromptEncoder(const PromptEncoderConfig& config, const io::WeightScope& s);

  const PromptEncoderConfig& config() const { return config_; }

  // points [B, P, N, 2] in model-input pixels with labels [B, P, N] (1 positive,
  // 0 negative, 2/3 box corners, -1 not-a-point, -10 padding), boxes [B, P, 4] xyxy in
  // model-input pixels, mask_input [B, 1, 4G, 4G] logits; any may be undefined.
  PromptEmbeddings forward(const at::Tensor& points, const at::Tensor& labels, const at::Tensor& boxes,
                           const at::Tensor& mask_input) const;

 private:
  PromptEncoderConfig config_;
  FourierPositionalEncoding shared_embedding_;
  nn::Conv2d mask_conv1_, mask_conv2_, mask_conv3_;
  nn::LayerNorm2d mask_layer_norm1_, mask_layer_norm2_;
  at::Tensor no_mask_embed_;      // [1, d]
  at::Tensor point_embed_;        // [4, d]
  at::Tensor not_a_point_embed_;  // [1, d]
};

}  // namespace sam3rt::models
