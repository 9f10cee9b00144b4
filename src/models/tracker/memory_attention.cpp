#include "models/tracker/memory_attention.h"

#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {
constexpr double kTorchLayerNormEps = 1e-5;
}  // namespace

MemoryAttention::MemoryAttention(const TrackerVideoConfig& c, const io::WeightScope& s) : config_(c) {
  const int64_t d = c.memory_attention_hidden_size;
  const int64_t heads = c.memory_attention_num_attention_heads;
  const int64_t internal = d / c.memory_attention_downsample_rate;
  for (int64_t i = 0; i < c.memory_attention_num_layers; ++i) {
    io::WeightScope ls = s.sub("layers", i);
    MemoryAttentionLayer layer;
    layer.self_attn = nn::Attention(ls.sub("self_attn"), d, heads, internal);
    layer.cross_attn_image = nn::Attention(ls.sub("cross_attn_image"), d, heads, internal, c.memory_encoder_output_channels);
    layer.mlp = nn::Mlp(ls, {d, c.memory_attention_feed_forward_hidden_size, d}, nn::Activation::kRelu,
                        nn::Mlp::Naming::kLinearN);
    layer.layer_norm1 = nn::LayerNorm(ls.sub("layer_norm1"), d, kTorchLayerNormEps);
    layer.layer_norm2 = nn::LayerNorm(ls.sub("layer_norm2"), d, kTorchLayerNormEps);
    layer.layer_norm3 = nn::LayerNorm(ls.sub("layer_norm3"), d, kTorchLayerNormEps);
    layers_.push_back(std::move(layer));
  }
  layer_norm_ = nn::LayerNorm(s.sub("layer_norm"), d, kTorchLayerNormEps);
}

at::Tensor MemoryAttention::forward(const at::Tensor& current, const at::Tensor& current_pos, const at::Tensor& memory,
                                    const at::Tensor& memory_pos, int64_t num_object_pointer_tokens) const {
  SAM3RT_FAIL(kUnsupported, "MemoryAttention::forward is not implemented yet");
}

}  // namespace sam3rt::models
