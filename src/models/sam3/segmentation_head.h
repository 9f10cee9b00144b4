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
  at::Tensor pred_masks;     // [B, Q, 4H, 4W] logits (the finest fpn level's size)
  at::Tensor semantic_seg;   // [B, 1, 4H, 4W] logits
  at::Tensor pixel_embed;    // [B, d, 4H, 4W] pixel decoder output
};

class SegmentationHead {
 public:
  SegmentationHead(const SegmentationHeadConfig& config, const io::WeightScope& s);

  // queries [B, Q, d]: last decoder layer, output-normalised; memory [B, H*W, d]: the
  // DETR encoder output on the coarsest level's H x W grid; fpn: the neck levels used by
  // the detector, finest first ([B, d, 4H, 4W], [B, d, 2H, 2W], [B, d, H, W]) -- the
  // coarsest level's values are replaced by the prompt-attended memory, only its size is
  // read; prompt [B, P, d] with prompt_valid [B, P] bool (true = attend; undefined = all
  // valid), or an undefined prompt to skip the prompt cross-attention.
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
