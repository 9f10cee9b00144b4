#include "models/sam3/text_encoder.h"

#include <ATen/ops/argmax.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/stack.h>

#include <ATen/ops/embedding.h>

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
    layer.mlp = nn::Mlp(ls.sub("mlp"), {D, c.intermediate_size, D}, nn::parse_activation(c.hidden_act), nn::Mlp::Naming::kFc);
    layers_.push_back(std::move(layer));
  }
  final_layer_norm_ = nn::LayerNorm(tm.sub("final_layer_norm"), D, c.layer_norm_eps);
  clip_projection_ = s.sub("text_encoder").take("text_projection.weight", {c.projection_dim, D});
  text_projection_ = nn::Linear(s.sub("text_projection"), D, d);
}

at::Tensor TextEncoder::encode(const at::Tensor& input_ids, const at::Tensor& attention_mask) const {
  SAM3RT_CHECK(input_ids.defined() && input_ids.dim() == 2, kInvalidArgument, "text encoder: input_ids must be [B, L]");
  SAM3RT_CHECK(!input_ids.is_floating_point() && !input_ids.is_complex() && input_ids.scalar_type() != at::kBool,
               kInvalidArgument, "text encoder: input_ids must be integers, got ", input_ids.scalar_type());
  const int64_t B = input_ids.size(0), L = input_ids.size(1);
  SAM3RT_CHECK(B > 0 && L > 0, kInvalidArgument, "text encoder: empty input_ids [", B, ", ", L, "]");
  SAM3RT_CHECK(L <= config_.max_position_embeddings, kInvalidArgument, "text encoder: ", L,
               " tokens exceed the context length ", config_.max_position_embeddings);
  const at::Tensor ids = input_ids.to(token_embedding_.device(), at::kLong);
  const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
  SAM3RT_CHECK(lo >= 0 && hi < config_.vocab_size, kInvalidArgument, "text encoder: token id ", lo < 0 ? lo : hi,
               " outside the vocabulary [0, ", config_.vocab_size, ")");

  // Causal self-attention; transformers (create_causal_mask) also masks padding keys
  // (attention_mask 0). Neither changes valid tokens, which precede the padding; the key
  // mask does change the padding positions' own outputs, reproduced here.
  nn::AttentionMask mask;
  mask.causal = true;
  if (attention_mask.defined()) {
    SAM3RT_CHECK(attention_mask.dim() == 2 && attention_mask.size(0) == B && attention_mask.size(1) == L,
                 kInvalidArgument, "text encoder: attention_mask must be [", B, ", ", L, "], got ",
                 attention_mask.sizes());
    mask.key_valid = attention_mask.to(ids.device()).ne(0);  // [B, L]
  }

  at::Tensor x = at::embedding(token_embedding_, ids).add(position_embedding_.slice(0, 0, L));  // [B, L, D]
  for (const TextLayer& layer : layers_) {
    at::Tensor h = layer.layer_norm1.forward(x);
    x = x.add(layer.self_attn.forward(h, h, h, mask));
    x = x.add(layer.mlp.forward(layer.layer_norm2.forward(x)));
  }
  return final_layer_norm_.forward(x);
}

at::Tensor TextEncoder::clip_text_embeds(const at::Tensor& hidden, const at::Tensor& input_ids) const {
  // First end token of each row (argmax returns the first maximum).
  at::Tensor eos = input_ids.eq(config_.eos_token_id).to(at::kInt).argmax(-1).cpu();  // [B]
  std::vector<at::Tensor> rows;
  for (int64_t b = 0; b < hidden.size(0); ++b) rows.push_back(hidden[b][eos[b].item<int64_t>()]);
  at::Tensor pooled = at::stack(rows);  // [B, D]
  return at::matmul(pooled, clip_projection_.t());
}

at::Tensor TextEncoder::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask) const {
  return text_projection_.forward(encode(input_ids, attention_mask));
}

}  // namespace sam3rt::models
