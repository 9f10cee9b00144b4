// SAM-style mask decoder of the tracker (architecture §10.3; transformers
// Sam3TrackerMaskDecoder): a two-way transformer between output tokens and the image,
// upscaling with high-resolution skips, hypernetwork masks, IoU and object-score heads.
//
// Weight prefix: tracker_model.mask_decoder.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>
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

// What the mask decoder returns. M = num_multimask_outputs with multimask output, else 1.
struct MaskDecoderOutput {
  at::Tensor masks;                // [B, P, M, 4G, 4G] low-resolution logits
  at::Tensor iou_scores;           // [B, P, M] predicted IoU (sigmoid)
  at::Tensor sam_tokens;           // [B, P, M, d] the mask tokens of the returned slots (object pointers)
  at::Tensor object_score_logits;  // [B, P, 1] "object present" if > 0
};

// The two-way transformer's intermediate results (parity tests and debugging).
// T = 2 + (num_multimask_outputs + 1) + sparse tokens; HW = G * G.
struct MaskDecoderTrace {
  std::vector<at::Tensor> layer_tokens;     // per block: tokens after it [B, P, T, d]
  std::vector<at::Tensor> layer_image;      // per block: image tokens after it [B*P, HW, d]
  std::vector<at::Tensor> layer_image_attn; // per block: image -> token attention output [B*P, HW, d]
  at::Tensor tokens;                        // after the final token -> image attention [B, P, T, d]
  at::Tensor image;                         // image tokens after the last block [B*P, HW, d]
  at::Tensor all_masks;                     // before selection [B, P, num_multimask_outputs + 1, 4G, 4G]
  at::Tensor all_iou_scores;                // before selection [B, P, num_multimask_outputs + 1]
};

class TrackerMaskDecoder {
 public:
  TrackerMaskDecoder(const TrackerMaskDecoderConfig& config, const io::WeightScope& s);

  const TrackerMaskDecoderConfig& config() const { return config_; }

  // image [B, d, G, G] (pixel features), image_pe [1 or B, d, G, G], sparse [B, P, N, d]
  // (prompt tokens; N may be 0), dense [B or 1, d, G, G] (dense prompt, added to the
  // image), high-resolution features feat_s0 [B, d/8, 4G, 4G] and feat_s1 [B, d/4, 2G, 2G]
  // (conv_s0 / conv_s1 of the tracker-neck levels 0 and 1). Each of the P prompt sets is
  // decoded independently against its image.
  // multimask: return masks 1..num_multimask_outputs; otherwise mask 0, replaced by the
  // best-IoU multimask output when its stability score falls below
  // dynamic_multimask_stability_thresh (if dynamic_multimask_via_stability).
  MaskDecoderOutput forward(const at::Tensor& image, const at::Tensor& image_pe, const at::Tensor& sparse,
                            const at::Tensor& dense, bool multimask, const at::Tensor& feat_s0,
                            const at::Tensor& feat_s1, MaskDecoderTrace* trace = nullptr) const;

  // The 1x1 convolutions that make feat_s0 / feat_s1 from tracker-neck levels 0 and 1.
  at::Tensor conv_s0(const at::Tensor& level0) const { return conv_s0_.forward(level0); }
  at::Tensor conv_s1(const at::Tensor& level1) const { return conv_s1_.forward(level1); }

 private:
  // Single-mask selection with the stability fallback: all_masks [B, P, M+1, h, w],
  // all_iou [B, P, M+1] -> masks [B, P, 1, h, w], iou [B, P, 1].
  std::pair<at::Tensor, at::Tensor> select_stable_single_mask(const at::Tensor& all_masks,
                                                              const at::Tensor& all_iou) const;

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
