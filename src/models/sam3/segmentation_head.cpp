#include "models/sam3/segmentation_head.h"

#include <ATen/ops/bmm.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/upsample_nearest2d.h>

#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {
constexpr int64_t kGroupNormGroups = 8;  // fixed in the reference, not in the config
}  // namespace

SegmentationHead::SegmentationHead(const SegmentationHeadConfig& c, const io::WeightScope& s) : config_(c) {
  const int64_t d = c.hidden_size;
  for (int64_t i = 0; i < c.num_upsampling_stages; ++i) {
    conv_layers_.emplace_back(s.sub("pixel_decoder.conv_layers", i), d, d, 3, 1, 1);
    norms_.emplace_back(s.sub("pixel_decoder.norms", i), kGroupNormGroups, d, 1e-5);
  }
  mask_embedder_ = nn::Mlp(s.sub("mask_embedder"), {d, d, d, d}, nn::Activation::kRelu, nn::Mlp::Naming::kLayersN);
  instance_projection_ = nn::Conv2d(s.sub("instance_projection"), d, d, 1);
  semantic_projection_ = nn::Conv2d(s.sub("semantic_projection"), d, 1, 1);
  prompt_cross_attn_ = nn::Attention(s.sub("prompt_cross_attn"), d, c.num_attention_heads);
  prompt_cross_attn_norm_ = nn::LayerNorm(s.sub("prompt_cross_attn_norm"), d, 1e-5);
}

SegmentationOutput SegmentationHead::forward(const at::Tensor& queries, const at::Tensor& memory,
                                             const std::vector<at::Tensor>& fpn, const at::Tensor& prompt,
                                             const at::Tensor& prompt_valid) const {
  const int64_t d = config_.hidden_size;
  SAM3RT_CHECK(!fpn.empty() && static_cast<int64_t>(fpn.size()) <= config_.num_upsampling_stages + 1, kInvalidArgument,
               "segmentation head: expected 1 to ", config_.num_upsampling_stages + 1, " feature levels, got ",
               fpn.size());
  SAM3RT_CHECK(memory.dim() == 3 && memory.size(2) == d, kInvalidArgument,
               "segmentation head: memory must be [B, HW, ", d, "], got ", memory.sizes());
  const int64_t B = memory.size(0);
  for (const at::Tensor& f : fpn) {
    SAM3RT_CHECK(f.dim() == 4 && f.size(0) == B && f.size(1) == d, kInvalidArgument,
                 "segmentation head: feature level must be [", B, ", ", d, ", H, W], got ", f.sizes());
  }
  const int64_t H = fpn.back().size(2), W = fpn.back().size(3);
  SAM3RT_CHECK(memory.size(1) == H * W, kInvalidArgument, "segmentation head: memory has ", memory.size(1),
               " tokens, the coarsest level ", H, " x ", W);
  SAM3RT_CHECK(queries.dim() == 3 && queries.size(0) == B && queries.size(2) == d, kInvalidArgument,
               "segmentation head: queries must be [", B, ", Q, ", d, "], got ", queries.sizes());

  // Pre-norm prompt cross-attention on the memory, single residual.
  at::Tensor m = memory;  // [B, HW, d]
  if (prompt.defined()) {
    const nn::AttentionMask mask = nn::prompt_mask(prompt, prompt_valid, B, d, "segmentation head");
    at::Tensor h = prompt_cross_attn_norm_.forward(m);
    m = m.add(prompt_cross_attn_.forward(h, prompt, prompt, mask));
  }

  // Pixel decoder: from the memory on the coarsest grid, upsample (nearest) to each finer
  // level, add it, conv 3x3, GroupNorm, ReLU.
  at::Tensor p = m.transpose(1, 2).reshape({B, d, H, W});
  for (size_t i = 0; i + 1 < fpn.size(); ++i) {
    const at::Tensor& skip = fpn[fpn.size() - 2 - i];
    p = at::upsample_nearest2d(p, {skip.size(2), skip.size(3)}).add(skip);
    p = at::relu(norms_[i].forward(conv_layers_[i].forward(p)));
  }

  SegmentationOutput out;
  out.pixel_embed = p;                                       // [B, d, 4H, 4W]
  at::Tensor inst = instance_projection_.forward(p);         // [B, d, 4H, 4W]
  at::Tensor emb = mask_embedder_.forward(queries);          // [B, Q, d]
  const int64_t h = p.size(2), w = p.size(3);
  out.pred_masks = at::bmm(emb, inst.reshape({B, d, h * w})).view({B, queries.size(1), h, w});
  out.semantic_seg = semantic_projection_.forward(p);       // [B, 1, 4H, 4W]
  return out;
}

}  // namespace sam3rt::models
