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

  // Grid side G of the image embedding (image_size / patch_size); masks are 4G x 4G.
  int64_t grid() const { return config_.image_size / config_.patch_size; }

  // Embeds one set of prompts per (image, prompt set); any input may be undefined, but
  // points or boxes must be given (the tracker adds a not-a-point when neither is).
  //   points [B, P, N, 2] (x, y) in model-input pixels (0 .. image_size), float;
  //   labels [B, P, N] integer: 1 positive, 0 negative, 2/3 box top-left/bottom-right
  //          corner, -1 not-a-point (its embedding is not_a_point_embed), -10 padding
  //          (zero embedding);
  //   boxes  [B, P, 4] x1, y1, x2, y2 in model-input pixels (one box per prompt set);
  //   mask_input [B, 1, 4G, 4G] mask logits (the dense prompt).
  // Coordinates are shifted to pixel centres (+0.5) and divided by image_size. When no
  // box is given, a padding point (0, 0) with label -1 is appended to the points. A box
  // becomes three tokens: its corners (labels 2, 3) and a not-a-point. Points precede
  // boxes.
  // Returns sparse [B, P, T, d] with T = N + 1 without boxes and N + 3 with boxes (N = 0
  // without points), and dense [B, d, G, G] (mask_embed(mask_input), else no_mask_embed
  // broadcast). Labels outside {-10, -1, 0 .. 3} and mis-shaped inputs are
  // Error(kInvalidArgument).
  PromptEmbeddings forward(const at::Tensor& points, const at::Tensor& labels, const at::Tensor& boxes,
                           const at::Tensor& mask_input) const;

  // The dense prompt of a mask alone: [B, 1, 4G, 4G] -> [B, d, G, G].
  at::Tensor embed_mask(const at::Tensor& mask_input) const;

 private:
  at::Tensor embed_points(const at::Tensor& points, const at::Tensor& labels, bool pad) const;
  at::Tensor embed_boxes(const at::Tensor& boxes) const;

  PromptEncoderConfig config_;
  FourierPositionalEncoding shared_embedding_;
  nn::Conv2d mask_conv1_, mask_conv2_, mask_conv3_;
  nn::LayerNorm2d mask_layer_norm1_, mask_layer_norm2_;
  at::Tensor no_mask_embed_;      // [1, d]
  at::Tensor point_embed_;        // [4, d]
  at::Tensor not_a_point_embed_;  // [1, d]
};

}  // namespace sam3rt::models
