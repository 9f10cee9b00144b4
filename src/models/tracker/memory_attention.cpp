#include "models/tracker/memory_attention.h"

#include <ATen/ops/cat.h>

#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {

constexpr double kTorchLayerNormEps = 1e-5;
constexpr double kCurrentPosWeight = 0.1;

// Rotates the spatial keys k [B, H, M, hd] (the first M - P tokens: whole memory frames of
// table.num_tokens() tokens each, every frame rotated with the same table); the P trailing
// object-pointer tokens pass unrotated.
at::Tensor rotate_memory_keys(const at::Tensor& k, const nn::RopeTable& table, int64_t num_pointer_tokens) {
  const int64_t B = k.size(0), H = k.size(1), M = k.size(2), hd = k.size(3);
  const int64_t spatial = M - num_pointer_tokens;
  const int64_t hw = table.num_tokens();
  if (spatial == 0) return k;
  at::Tensor rotated = nn::apply_rope(k.slice(2, 0, spatial).reshape({B, H, spatial / hw, hw, hd}), table)
                           .view({B, H, spatial, hd});
  if (num_pointer_tokens == 0) return rotated;
  return at::cat({rotated, k.slice(2, spatial)}, 2);
}

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
  // rope_feat_sizes = (end_x, end_y): token i sits at x = i mod end_x, y = i div end_x.
  SAM3RT_CHECK(c.memory_attention_rope_feat_sizes.size() == 2, kCorruption,
               "memory_attention_rope_feat_sizes must have two entries, got ", c.memory_attention_rope_feat_sizes.size());
  rope_ = nn::rope_axial_table(c.memory_attention_rope_feat_sizes[1], c.memory_attention_rope_feat_sizes[0],
                               internal / heads, c.memory_attention_rope_theta)
              .to(s.placement().device);  // where the weights are, built once
}

at::Tensor MemoryAttention::forward(const at::Tensor& current, const at::Tensor& current_pos, const at::Tensor& memory,
                                    const at::Tensor& memory_pos, int64_t num_object_pointer_tokens) const {
  const int64_t d = config_.memory_attention_hidden_size;
  const int64_t mem_dim = config_.memory_encoder_output_channels;
  const int64_t hw = rope_.num_tokens();
  SAM3RT_CHECK(current.dim() == 3 && current.size(1) == hw && current.size(2) == d, kInvalidArgument,
               "memory attention input must be [B, ", hw, ", ", d, "], got ", current.sizes());
  const int64_t B = current.size(0);
  SAM3RT_CHECK(!current_pos.defined() || current_pos.sizes() == current.sizes(), kInvalidArgument,
               "memory attention position encoding ", current_pos.sizes(), " does not match the input ",
               current.sizes());
  SAM3RT_CHECK(memory.dim() == 3 && memory.size(0) == B && memory.size(2) == mem_dim && memory_pos.defined() &&
                   memory_pos.sizes() == memory.sizes(),
               kInvalidArgument, "memory must be [", B, ", M, ", mem_dim, "] with a position encoding of the same shape, got ",
               memory.sizes(), " and ", memory_pos.defined() ? memory_pos.sizes() : c10::IntArrayRef{});
  const int64_t M = memory.size(1);
  SAM3RT_CHECK(num_object_pointer_tokens >= 0 && num_object_pointer_tokens <= M &&
                   (M - num_object_pointer_tokens) % hw == 0 && M > 0,
               kInvalidArgument, "memory of ", M, " tokens with ", num_object_pointer_tokens,
               " object-pointer tokens is not whole memory frames of ", hw, " tokens");

  const nn::RopeTable rope = rope_.to(current.device());
  at::Tensor x = current_pos.defined() ? current.add(current_pos.mul(kCurrentPosWeight)) : current;  // [B, HW, d]
  const at::Tensor memory_keys = memory.add(memory_pos);                                                // [B, M, mem]
  for (const MemoryAttentionLayer& l : layers_) {
    // Self-attention, RoPE on queries and keys.
    at::Tensor h = l.layer_norm1.forward(x);
    const nn::Attention& sa = l.self_attn;
    at::Tensor q = nn::apply_rope(sa.split_heads(sa.q_proj.forward(h)), rope);
    at::Tensor k = nn::apply_rope(sa.split_heads(sa.k_proj.forward(h)), rope);
    x = x.add(sa.attend(q, k, sa.split_heads(sa.v_proj.forward(h))));
    // Cross-attention to the memory: spatial keys rotated frame by frame, pointers not.
    h = l.layer_norm2.forward(x);
    const nn::Attention& ca = l.cross_attn_image;
    q = nn::apply_rope(ca.split_heads(ca.q_proj.forward(h)), rope);
    k = rotate_memory_keys(ca.split_heads(ca.k_proj.forward(memory_keys)), rope, num_object_pointer_tokens);
    x = x.add(ca.attend(q, k, ca.split_heads(ca.v_proj.forward(memory))));
    // Feed-forward.
    x = x.add(l.mlp.forward(l.layer_norm3.forward(x)));
  }
  return layer_norm_.forward(x);
}

}  // namespace sam3rt::models
