#include "models/sam3/detr_decoder.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/stack.h>

#include <cmath>

#include "nn/position_encoding.h"
#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {
constexpr double kTorchLayerNormEps = 1e-5;  // transformers ignores the config eps here
constexpr double kInverseSigmoidEps = 1e-3;
constexpr double kPresenceClamp = 10.0;      // transformers' clamp of the presence logit
constexpr double kRpbLogScale = 8.0;         // "log" box-RPB: sign(8t) log2(|8t| + 1) / log2(8)

// log(x / (1 - x)) with x clamped to [0, 1] and both terms to at least eps.
at::Tensor inverse_sigmoid(const at::Tensor& x) {
  at::Tensor c = x.clamp(0.0, 1.0);
  return c.clamp_min(kInverseSigmoidEps).div(c.neg().add(1.0).clamp_min(kInverseSigmoidEps)).log();
}

at::Tensor log_squash(const at::Tensor& t) {
  at::Tensor s = t.mul(kRpbLogScale);
  return s.sign().mul(s.abs().add(1.0).log2()).div(std::log2(kRpbLogScale));
}
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
  box_head_ = nn::Mlp(s.fp32_products().sub("box_head"), {d, d, d, 4}, nn::Activation::kRelu, nn::Mlp::Naming::kLayerN);
  query_embed_ = s.take("query_embed.weight", {c.num_queries, d});
  reference_points_ = s.take("reference_points.weight", {c.num_queries, 4});
  presence_token_ = s.take("presence_token.weight", {1, d});
  presence_head_ = nn::Mlp(s.fp32_products().sub("presence_head"), {d, d, d, 1}, nn::Activation::kRelu, nn::Mlp::Naming::kLayerN);
  presence_layer_norm_ = nn::LayerNorm(s.sub("presence_layer_norm"), d, kTorchLayerNormEps);
  ref_point_head_ = nn::Mlp(s.fp32_products().sub("ref_point_head"), {2 * d, d, d}, nn::Activation::kRelu, nn::Mlp::Naming::kLayerN);
  box_rpb_embed_x_ = nn::Mlp(s.fp32_products().sub("box_rpb_embed_x"), {2, d, h}, nn::Activation::kRelu, nn::Mlp::Naming::kLayerN);
  box_rpb_embed_y_ = nn::Mlp(s.fp32_products().sub("box_rpb_embed_y"), {2, d, h}, nn::Activation::kRelu, nn::Mlp::Naming::kLayerN);
}

at::Tensor DetrDecoder::box_rpb(const at::Tensor& boxes, int64_t grid_h, int64_t grid_w) const {
  const int64_t B = boxes.size(0), Q = boxes.size(1);
  const int64_t heads = config_.num_attention_heads;
  const at::TensorOptions opts = boxes.options();
  // Box corners x1, y1, x2, y2.
  at::Tensor cx = boxes.select(-1, 0), cy = boxes.select(-1, 1);
  at::Tensor hw = boxes.select(-1, 2).mul(0.5), hh = boxes.select(-1, 3).mul(0.5);
  at::Tensor xs = at::stack({cx.sub(hw), cx.add(hw)}, -1).unsqueeze(2);  // [B, Q, 1, 2] (x1, x2)
  at::Tensor ys = at::stack({cy.sub(hh), cy.add(hh)}, -1).unsqueeze(2);  // [B, Q, 1, 2] (y1, y2)
  // Grid coordinates i / size (no half-pixel offset), minus the box edges.
  at::Tensor gx = at::arange(grid_w, opts).div(static_cast<double>(grid_w)).view({1, 1, grid_w, 1});
  at::Tensor gy = at::arange(grid_h, opts).div(static_cast<double>(grid_h)).view({1, 1, grid_h, 1});
  at::Tensor bx = box_rpb_embed_x_.forward(log_squash(gx.sub(xs)));  // [B, Q, W, heads]
  at::Tensor by = box_rpb_embed_y_.forward(log_squash(gy.sub(ys)));  // [B, Q, H, heads]
  // bias[b, h, q, i * W + j] = by[b, q, i, h] + bx[b, q, j, h].
  at::Tensor bias = by.permute({0, 3, 1, 2}).unsqueeze(-1).add(bx.permute({0, 3, 1, 2}).unsqueeze(-2));
  return bias.reshape({B, heads, Q, grid_h * grid_w});  // [B, heads, Q, HW]
}

DetrDecoderOutput DetrDecoder::forward(const at::Tensor& memory, const at::Tensor& pos, int64_t grid_h, int64_t grid_w,
                                       const at::Tensor& prompt, const at::Tensor& prompt_valid) const {
  const int64_t d = config_.hidden_size;
  SAM3RT_CHECK(memory.dim() == 3 && memory.size(2) == d, kInvalidArgument, "DETR decoder: memory must be [B, HW, ",
               d, "], got ", memory.sizes());
  const int64_t B = memory.size(0);
  SAM3RT_CHECK(grid_h > 0 && grid_w > 0 && memory.size(1) == grid_h * grid_w, kInvalidArgument,
               "DETR decoder: memory has ", memory.size(1), " tokens, not ", grid_h, " x ", grid_w);
  SAM3RT_CHECK(pos.dim() == 3 && pos.size(1) == memory.size(1) && pos.size(2) == d && (pos.size(0) == 1 || pos.size(0) == B),
               kInvalidArgument, "DETR decoder: position ", pos.sizes(), " does not match memory ", memory.sizes());
  const nn::AttentionMask text_mask = nn::prompt_mask(prompt, prompt_valid, B, d, "DETR decoder");
  const at::Tensor memory_with_pos = memory.add(pos);  // keys of the image cross-attention

  // Tokens [presence, queries]; reference boxes in sigmoid space.
  at::Tensor x = at::cat({presence_token_.unsqueeze(0).expand({B, 1, d}), query_embed_.unsqueeze(0).expand({B, -1, d})},
                         1);                                                       // [B, 1 + Q, d]
  at::Tensor ref = reference_points_.sigmoid().unsqueeze(0).expand({B, -1, 4});    // [B, Q, 4]

  DetrDecoderOutput out;
  std::vector<at::Tensor> hidden, refs, boxes, presence;
  for (const DetrDecoderLayer& layer : layers_) {
    // Query position from the sine-encoded reference box; zero for the presence token.
    at::Tensor qpos = ref_point_head_.forward(nn::sine_encode_boxes(ref, d / 2));  // [B, Q, d]
    qpos = at::constant_pad_nd(qpos, {0, 0, 1, 0}, 0.0);                             // [B, 1 + Q, d]
    // Box RPB on the image cross-attention logits; zero row for the presence token.
    nn::AttentionMask vision_mask;
    vision_mask.bias = at::constant_pad_nd(box_rpb(ref, grid_h, grid_w), {0, 0, 1, 0}, 0.0);  // [B, h, 1 + Q, HW]

    // Post-norm layer.
    at::Tensor q = x.add(qpos);
    x = layer.self_attn_layer_norm.forward(x.add(layer.self_attn.forward(q, q, x)));
    q = x.add(qpos);
    x = layer.text_cross_attn_layer_norm.forward(x.add(layer.text_cross_attn.forward(q, prompt, prompt, text_mask)));
    q = x.add(qpos);
    x = layer.vision_cross_attn_layer_norm.forward(
        x.add(layer.vision_cross_attn.forward(q, memory_with_pos, memory, vision_mask)));
    x = layer.mlp_layer_norm.forward(x.add(layer.mlp.forward(x)));
    out.layer_states.push_back(x);

    // Box refinement from the normalised queries.
    at::Tensor h = output_layer_norm_.forward(x.slice(1, 1));  // [B, Q, d]
    at::Tensor refined = box_head_.forward(h).add(inverse_sigmoid(ref)).sigmoid();
    hidden.push_back(h);
    refs.push_back(ref);
    boxes.push_back(refined);
    ref = refined;

    // Presence logit from the presence token.
    at::Tensor p = presence_head_.forward(presence_layer_norm_.forward(x.slice(1, 0, 1))).squeeze(-1);  // [B, 1]
    presence.push_back(p.clamp(-kPresenceClamp, kPresenceClamp));
  }
  out.hidden_states = at::stack(hidden);
  out.reference_boxes = at::stack(refs);
  out.boxes = at::stack(boxes);
  out.presence_logits = at::stack(presence);
  return out;
}

}  // namespace sam3rt::models
