#include "models/sam3/vision_backbone.h"

#include <algorithm>

#include "sam3rt/error.h"

namespace sam3rt::models {

VisionBackbone::VisionBackbone(const VitConfig& c, const io::WeightScope& s) : config_(c) {
  const int64_t D = c.hidden_size;
  const int64_t P = c.pretrain_grid();
  patch_weight_ = s.take("embeddings.patch_embeddings.projection.weight", {D, c.num_channels, c.patch_size, c.patch_size});
  position_table_ = s.take("embeddings.position_embeddings", {1, P * P, D});
  layer_norm_ = nn::LayerNorm(s.sub("layer_norm"), D, c.layer_norm_eps);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    io::WeightScope ls = s.sub("layers", i);
    VitLayer layer;
    layer.layer_norm1 = nn::LayerNorm(ls.sub("layer_norm1"), D, c.layer_norm_eps);
    layer.attention = nn::Attention(ls.sub("attention"), D, c.num_attention_heads);
    layer.layer_norm2 = nn::LayerNorm(ls.sub("layer_norm2"), D, c.layer_norm_eps);
    layer.mlp = nn::Mlp(ls.sub("mlp"), {D, c.intermediate_size, D}, nn::Activation::kGelu, nn::Mlp::Naming::kFc);
    layer.global = std::find(c.global_attn_indexes.begin(), c.global_attn_indexes.end(), i) != c.global_attn_indexes.end();
    layers_.push_back(std::move(layer));
  }
}

at::Tensor VisionBackbone::forward(const at::Tensor& pixel_values) const {
  SAM3RT_FAIL(kUnsupported, "VisionBackbone::forward is not implemented yet");
}

}  // namespace sam3rt::models
