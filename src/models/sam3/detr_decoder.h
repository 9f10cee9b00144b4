// DETR decoder with presence token, iterative box refinement and box-relative position
// bias (architecture §7; transformers Sam3DetrDecoder). Post-norm layers over
// [presence token, queries]: self-attention, cross-attention to the prompt,
// cross-attention to the encoder memory with the box RPB, FFN.
//
// Weight prefix: detector_model.detr_decoder.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "nn/attention.h"
#include "nn/layers.h"

namespace sam3rt::models {

struct DetrDecoderLayer {
  nn::Attention self_attn, text_cross_attn, vision_cross_attn;
  nn::LayerNorm self_attn_layer_norm, text_cross_attn_layer_norm, vision_cross_attn_layer_norm;
  nn::Mlp mlp;  // fc1, fc2
  nn::LayerNorm mlp_layer_norm;
};

struct DetrDecoderOutput {
  at::Tensor hidden_states;    // [L, B, Q, d]  queries per layer, after output_layer_norm
  at::Tensor reference_boxes;  // [L, B, Q, 4]  cxcywh in [0, 1]: the boxes each layer started from
                               //               (layer 0: sigmoid of the learned reference points)
  at::Tensor boxes;            // [L, B, Q, 4]  cxcywh in [0, 1]: each layer's refined boxes,
                               //               sigmoid(inverse_sigmoid(reference) + box_head(hidden))
  at::Tensor presence_logits;  // [L, B, 1]     clamped to +-10 as transformers does
  std::vector<at::Tensor> layer_states;  // L x [B, 1 + Q, d]: raw layer outputs, presence token first
};

class DetrDecoder {
 public:
  DetrDecoder(const DetectorTransformerConfig& config, const io::WeightScope& s);

  // memory [B, HW, d] (encoder output) with its position [B or 1, HW, d] on a grid_h x
  // grid_w grid (HW = grid_h * grid_w, row-major); prompt [B, P, d] and prompt_valid [B, P]
  // bool (true = attend; undefined = every token valid). Final detections are the last
  // layer: boxes[-1] (cxcywh; xyxy = cx -+ w/2, cy -+ h/2), presence_logits[-1].
  DetrDecoderOutput forward(const at::Tensor& memory, const at::Tensor& pos, int64_t grid_h, int64_t grid_w,
                            const at::Tensor& prompt, const at::Tensor& prompt_valid) const;

 private:
  // Box relative position bias ("log" mode) of reference boxes [B, Q, 4] (cxcywh) on a
  // grid_h x grid_w grid -> [B, heads, Q, grid_h * grid_w], added to the scaled logits of
  // the image cross-attention.
  at::Tensor box_rpb(const at::Tensor& boxes, int64_t grid_h, int64_t grid_w) const;

  DetectorTransformerConfig config_;
  std::vector<DetrDecoderLayer> layers_;
  nn::LayerNorm output_layer_norm_;
  nn::Mlp box_head_;        // d -> d -> d -> 4
  at::Tensor query_embed_;  // [Q, d]
  at::Tensor reference_points_;  // [Q, 4] logits
  at::Tensor presence_token_;    // [1, d]
  nn::Mlp presence_head_;        // d -> d -> d -> 1
  nn::LayerNorm presence_layer_norm_;
  nn::Mlp ref_point_head_;       // 2d -> d -> d
  nn::Mlp box_rpb_embed_x_, box_rpb_embed_y_;  // 2 -> d -> heads
};

}  // namespace sam3rt::models
