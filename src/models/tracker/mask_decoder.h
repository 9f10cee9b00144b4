// SAM-style mask decoder of the tracker (architecture §10.3; transformers
// Sam3TrackerMaskDecoder): a two-way transformer between output tokens and the image,
// upscaling with high-resolution skips, hypernetwork masks, IoU and object-score heads.
//
// Weight prefix: tracker_model.mask_decoder.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "nn/attention.h"
#include "nn/layers.h"

namespace sam3rt::models {

struct TwoWayBlock {
  nn::Attention self_attn, cross_attn_token_to_image, cross_attn_image_to_token;
  nn::LayerNorm layer_norm1, layer_norm2, layer_norm3, layer_norm4;
  nn::Mlp mlp;  // proj_in, [layers.*], proj_out
};

struct MaskDecoderOutput {
  at::Tensor masks;            // [B, P, M, 4G, 4G] low-resolution logits
  at::Tensor iou_scores;       // [B, P, M]
  at::Tensor sam_tokens;       // [B, P, M, d] mask tokens used for object pointers
  at::Tensor object_score_logits;  // [B, P, 1]
};

class TrackerMaskDecoder {
 public:
  TrackerMaskDecoder(const TrackerMaskDecoderConfig& config, const io::WeightScope& s);

  const TrackerMaskDecoderConfig& config() const { return config_; }

  // image [B, d, G, G], image_pe [1, d, G, G], sparse [B, P, N, d], dense [B, d, G, G],
  // high-resolution features feat_s0 [B, d/8, 4G, 4G], feat_s1 [B, d/4, 2G, 2G].
  MaskDecoderOutput forward(const at::Tensor& image, const at::Tensor& image_pe, const at::Tensor& sparse,
                            const at::Tensor& dense, bool multimask, const at::Tensor& feat_s0,
                            const at::Tensor& feat_s1) const;

  // The 1x1 convolutions that make feat_s0 / feat_s1 from tracker-neck levels 0 and 1.
  at::Tensor conv_s0(const at::Tensor& level0) const { return conv_s0_.forward(level0); }
  at::Tensor conv_s1(const at::Tensor& level1) const { return conv_s1_.forward(level1); }

 private:
  TrackerMaskDecoderConfig config_;
  at::Tensor iou_token_;        // [1, d]
  at::Tensor mask_tokens_;      // [M+1, d]
  at::Tensor obj_score_token_;  // [1, d]
  std::vector<TwoWayBlock> layers_;
  nn::Attention final_attn_token_to_image_;
  nn::LayerNorm layer_norm_final_attn_;
  nn::ConvTranspose2d upscale_conv1_, upscale_conv2_;
  nn::LayerNorm2d upscale_layer_norm_;
  nn::Conv2d conv_s0_, conv_s1_;
  std::vector<nn::Mlp> output_hypernetworks_mlps_;
  nn::Mlp iou_prediction_head_;
  nn::Mlp pred_obj_score_head_;
};

}  // namespace sam3rt::models
