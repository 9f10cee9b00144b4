// Memory attention: conditions the current frame's features on the memory bank
// (architecture §10.5; transformers Sam3TrackerVideoMemoryAttention). Pre-norm layers:
// self-attention with 2-D RoPE, cross-attention to memory tokens (RoPE on the spatial
// memory keys, not on object-pointer tokens), FFN; a final LayerNorm.
//
// Weight prefix: tracker_model.memory_attention.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "nn/attention.h"
#include "nn/layers.h"
#include "nn/rope.h"

namespace sam3rt::models {

struct MemoryAttentionLayer {
  nn::Attention self_attn, cross_attn_image;
  nn::Mlp mlp;  // linear1, linear2
  nn::LayerNorm layer_norm1, layer_norm2, layer_norm3;
};

class MemoryAttention {
 public:
  MemoryAttention(const TrackerVideoConfig& config, const io::WeightScope& s);

  // current [B, HW, d] (the frame's level-G features, row-major over the
  // memory_attention_rope_feat_sizes grid) with current_pos [B, HW, d] (its sine PE,
  // added with weight 0.1; undefined = none); memory [B, M, mem_dim] with memory_pos
  // [B, M, mem_dim]: F spatial memories of HW tokens each (M = F * HW + P), followed by
  // P = num_object_pointer_tokens object-pointer tokens (not rotated).
  // Returns the memory-conditioned features [B, HW, d]. Inconsistent shapes are
  // Error(kInvalidArgument).
  at::Tensor forward(const at::Tensor& current, const at::Tensor& current_pos, const at::Tensor& memory,
                     const at::Tensor& memory_pos, int64_t num_object_pointer_tokens) const;

 private:
  TrackerVideoConfig config_;
  std::vector<MemoryAttentionLayer> layers_;
  nn::LayerNorm layer_norm_;
  nn::RopeTable rope_;  // [HW, head_dim / 2] on the CPU, for the rope_feat_sizes grid
};

}  // namespace sam3rt::models
