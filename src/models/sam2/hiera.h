// SAM 2's image trunk: Hiera (transformers Sam2HieraDetModel). A strided patch
// convolution, a windowed absolute position embedding, then stages of multiscale blocks:
// the first block of stages 1..num_query_pool_stages widens the channels and max-pools its
// queries (and its residual) by query_stride, halving the grid; blocks attend inside
// windows of their stage's size, except the global ones.
//
// Weight prefix: vision_encoder.backbone (sam2, sam2_video).
// Input pixel_values [B, 3, S, S]; output one [B, h_s, w_s, C_s] map per stage
// (channels last; strides 4, 8, 16, 32 for the released configs).
// Thread-safety: immutable; forward() may run concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "models/trace.h"
#include "nn/attention.h"
#include "nn/layers.h"

namespace sam3rt::models {

struct HieraBlock {
  int64_t dim = 0, dim_out = 0, heads = 1;
  int64_t window = 0;       // 0: global attention
  int64_t query_stride = 1;  // > 1: queries and the residual are max-pooled by it
  nn::LayerNorm layer_norm1, layer_norm2;
  nn::Linear qkv;                  // dim -> 3 * dim_out, laid out [3][heads][head_dim]
  nn::Linear attn_proj;            // dim_out -> dim_out
  std::optional<nn::Linear> proj;  // dim -> dim_out on the residual, where the width changes
  nn::Mlp mlp;                     // proj_in, proj_out (GELU)
  nn::AttentionKernel kernel;
};

class Hiera {
 public:
  Hiera(const HieraConfig& config, const io::WeightScope& s);

  const HieraConfig& config() const { return config_; }

  // pixel_values [B, 3, S, S] -> one [B, h, w, C] map per stage, contiguous. With
  // `trace`: "vision_encoder.backbone.patch_embed", ".blocks.<i>" and
  // ".intermediate_hidden_states.<s>", ".last_hidden_state" (channels last, as the reference).
  std::vector<at::Tensor> forward(const at::Tensor& pixel_values, Trace* trace = nullptr) const;

 private:
  // One block on x [B, H, W, dim] -> [B, H', W', dim_out].
  at::Tensor run_block(const HieraBlock& b, const at::Tensor& x) const;
  // pos_embed (resized to h x w, bicubic) + the tiled window embedding: [1, h, w, C].
  at::Tensor position_embedding(int64_t h, int64_t w, const at::TensorOptions& options) const;

  HieraConfig config_;
  nn::Conv2d patch_embed_;     // 3 -> C, kernel k, stride s, padding p
  at::Tensor pos_embed_;       // [1, C, bh, bw]
  at::Tensor pos_embed_window_;  // [1, C, w0, w0]
  std::vector<HieraBlock> blocks_;
  std::vector<int64_t> stage_ends_;  // index of each stage's last block
};

}  // namespace sam3rt::models
