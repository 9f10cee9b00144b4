#include "models/sam3/segmentation_head.h"

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
  SAM3RT_FAIL(kUnsupported, "SegmentationHead::forward is not implemented yet");
}

}  // namespace sam3rt::models
