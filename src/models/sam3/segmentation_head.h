// Segmentation head: prompt cross-attention on the encoder memory, FPN pixel decoder,
// instance masks from query embeddings and a semantic map (architecture §8;
// transformers Sam3MaskDecoder).
//
// Weight prefix: detector_model.mask_decoder.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "nn/attention.h"
#include "nn/layers.h"

namespace sam3rt::models {

struct SegmentationOutput {
  at::Tensor pred_masks;     // [B, Q, 4G, 4G] logits
  at::Tensor semantic_seg;   // [B, 1, 4G, 4G] logits
  at::Tensor pixel_embed;    // [B, d, 4G, 4G] pixel decoder output
};

class SegmentationHead {
 public:
  SegmentationHead(const SegmentationHeadConfig& config, const io::WeightScope& s);

  // queries [B, Q, d] (last decoder layer, normalised); memory [B, G*G, d]; fpn levels
  // [B, d, 4G, 4G], [B, d, 2G, 2G] (the G level is replaced by the memory); prompt
  // [B, P, d] with prompt_valid [B, P].
  SegmentationOutput forward(const at::Tensor& queries, const at::Tensor& memory,
                             const std::vector<at::Tensor>& fpn, const at::Tensor& prompt,
                             const at::Tensor& prompt_valid) const;

 private:
  SegmentationHeadConfig config_;
  std::vector<nn::Conv2d> conv_layers_;
  std::vector<nn::GroupNorm> norms_;
  nn::Mlp mask_embedder_;  // layers.0..2
  nn::Conv2d instance_projection_, semantic_projection_;
  nn::Attention prompt_cross_attn_;
  nn::LayerNorm prompt_cross_attn_norm_;
};

}  // namespace sam3rt::models
