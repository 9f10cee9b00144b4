#include "models/sam3/geometry_encoder.h"

#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {
// transformers builds these LayerNorms with PyTorch's default eps, whatever the config's
// layer_norm_eps says (architecture §11 note).
constexpr double kTorchLayerNormEps = 1e-5;
}  // namespace

PreNormFusionLayer::PreNormFusionLayer(const DetectorTransformerConfig& c, const io::WeightScope& s) {
  const int64_t d = c.hidden_size;
  layer_norm1 = nn::LayerNorm(s.sub("layer_norm1"), d, kTorchLayerNormEps);
  self_attn = nn::Attention(s.sub("self_attn"), d, c.num_attention_heads);
  cross_attn = nn::Attention(s.sub("cross_attn"), d, c.num_attention_heads);
  layer_norm2 = nn::LayerNorm(s.sub("layer_norm2"), d, kTorchLayerNormEps);
  mlp = nn::Mlp(s.sub("mlp"), {d, c.intermediate_size, d}, nn::parse_activation(c.hidden_act), nn::Mlp::Naming::kFc);
  layer_norm3 = nn::LayerNorm(s.sub("layer_norm3"), d, kTorchLayerNormEps);
}

GeometryEncoder::GeometryEncoder(const DetectorTransformerConfig& c, const io::WeightScope& s) : config_(c) {
  const int64_t d = c.hidden_size;
  label_embed_ = s.take("label_embed.weight", {2, d});
  cls_embed_ = s.take("cls_embed.weight", {1, d});
  boxes_direct_project_ = nn::Linear(s.sub("boxes_direct_project"), 4, d);
  boxes_pool_project_ = nn::Conv2d(s.sub("boxes_pool_project"), d, d, c.roi_size);
  boxes_pos_enc_project_ = nn::Linear(s.sub("boxes_pos_enc_project"), d + 2, d);
  vision_layer_norm_ = nn::LayerNorm(s.sub("vision_layer_norm"), d, kTorchLayerNormEps);
  final_proj_ = nn::Linear(s.sub("final_proj"), d, d);
  prompt_layer_norm_ = nn::LayerNorm(s.sub("prompt_layer_norm"), d, kTorchLayerNormEps);
  for (int64_t i = 0; i < c.num_layers; ++i) layers_.emplace_back(c, s.sub("layers", i));
  output_layer_norm_ = nn::LayerNorm(s.sub("output_layer_norm"), d, kTorchLayerNormEps);
}

GeometryPrompt GeometryEncoder::forward(const at::Tensor& boxes, const at::Tensor& labels, const at::Tensor& valid,
                                        const at::Tensor& image, const at::Tensor& image_pos) const {
  SAM3RT_FAIL(kUnsupported, "GeometryEncoder::forward is not implemented yet");
}

}  // namespace sam3rt::models
