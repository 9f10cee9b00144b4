#include "models/sam3/detr_decoder.h"

#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {
constexpr double kTorchLayerNormEps = 1e-5;  // transformers ignores the config eps here
}  // namespace

DetrDecoder::DetrDecoder(const DetectorTransformerConfig& c, const io::WeightScope& s) : config_(c) {
  const int64_t d = c.hidden_size;
  const int64_t h = c.num_attention_heads;
  for (int64_t i = 0; i < c.num_layers; ++i) {
    io::WeightScope ls = s.sub("layers", i);
    DetrDecoderLayer layer;
    layer.self_attn = nn::Attention(ls.sub("self_attn"), d, h);
    layer.self_attn_layer_norm = nn::LayerNorm(ls.sub("self_attn_layer_norm"), d, kTorchLayerNormEps);
    layer.text_cross_attn = nn::Attention(ls.sub("text_cross_attn"), d, h);
    layer.text_cross_attn_layer_norm = nn::LayerNorm(ls.sub("text_cross_attn_layer_norm"), d, kTorchLayerNormEps);
    layer.vision_cross_attn = nn::Attention(ls.sub("vision_cross_attn"), d, h);
    layer.vision_cross_attn_layer_norm = nn::LayerNorm(ls.sub("vision_cross_attn_layer_norm"), d, kTorchLayerNormEps);
    layer.mlp = nn::Mlp(ls.sub("mlp"), {d, c.intermediate_size, d}, nn::parse_activation(c.hidden_act), nn::Mlp::Naming::kFc);
    layer.mlp_layer_norm = nn::LayerNorm(ls.sub("mlp_layer_norm"), d, kTorchLayerNormEps);
    layers_.push_back(std::move(layer));
  }
  output_layer_norm_ = nn::LayerNorm(s.sub("output_layer_norm"), d, kTorchLayerNormEps);
  box_head_ = nn::Mlp(s.sub("box_head"), {d, d, d, 4}, nn::Activation::kRelu, nn::Mlp::Naming::kLayerN);
  query_embed_ = s.take("query_embed.weight", {c.num_queries, d});
  reference_points_ = s.take("reference_points.weight", {c.num_queries, 4});
  presence_token_ = s.take("presence_token.weight", {1, d});
  presence_head_ = nn::Mlp(s.sub("presence_head"), {d, d, d, 1}, nn::Activation::kRelu, nn::Mlp::Naming::kLayerN);
  presence_layer_norm_ = nn::LayerNorm(s.sub("presence_layer_norm"), d, kTorchLayerNormEps);
  ref_point_head_ = nn::Mlp(s.sub("ref_point_head"), {2 * d, d, d}, nn::Activation::kRelu, nn::Mlp::Naming::kLayerN);
  box_rpb_embed_x_ = nn::Mlp(s.sub("box_rpb_embed_x"), {2, d, h}, nn::Activation::kRelu, nn::Mlp::Naming::kLayerN);
  box_rpb_embed_y_ = nn::Mlp(s.sub("box_rpb_embed_y"), {2, d, h}, nn::Activation::kRelu, nn::Mlp::Naming::kLayerN);
}

DetrDecoderOutput DetrDecoder::forward(const at::Tensor& memory, const at::Tensor& pos, int64_t grid_h, int64_t grid_w,
                                       const at::Tensor& prompt, const at::Tensor& prompt_valid) const {
  SAM3RT_FAIL(kUnsupported, "DetrDecoder::forward is not implemented yet");
}

}  // namespace sam3rt::models
