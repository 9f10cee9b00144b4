#include "models/sam3/text_encoder.h"

#include "sam3rt/error.h"

namespace sam3rt::models {

TextEncoder::TextEncoder(const TextConfig& c, int64_t d, const io::WeightScope& s) : config_(c) {
  const int64_t D = c.hidden_size;
  io::WeightScope tm = s.sub("text_encoder").sub("text_model");
  token_embedding_ = tm.take("embeddings.token_embedding.weight", {c.vocab_size, D});
  position_embedding_ = tm.take("embeddings.position_embedding.weight", {c.max_position_embeddings, D});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    io::WeightScope ls = tm.sub("encoder.layers", i);
    TextLayer layer;
    layer.layer_norm1 = nn::LayerNorm(ls.sub("layer_norm1"), D, c.layer_norm_eps);
    layer.self_attn = nn::Attention(ls.sub("self_attn"), D, c.num_attention_heads, -1, -1, "out_proj");
    layer.layer_norm2 = nn::LayerNorm(ls.sub("layer_norm2"), D, c.layer_norm_eps);
    layer.mlp = nn::Mlp(ls.sub("mlp"), {D, c.intermediate_size, D}, nn::Activation::kGelu, nn::Mlp::Naming::kFc);
    layers_.push_back(std::move(layer));
  }
  final_layer_norm_ = nn::LayerNorm(tm.sub("final_layer_norm"), D, c.layer_norm_eps);
  clip_projection_ = s.sub("text_encoder").take("text_projection.weight", {c.projection_dim, D});
  text_projection_ = nn::Linear(s.sub("text_projection"), D, d);
}

at::Tensor TextEncoder::encode(const at::Tensor& input_ids, const at::Tensor& attention_mask) const {
  SAM3RT_FAIL(kUnsupported, "TextEncoder::encode is not implemented yet");
}

at::Tensor TextEncoder::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask) const {
  return text_projection_.forward(encode(input_ids, attention_mask));
}

}  // namespace sam3rt::models
