#include "models/tracker/mask_decoder.h"

#include <ATen/ops/argmax.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/gather.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/repeat_interleave.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/where.h>

#include <string>
#include <tuple>

#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {
constexpr double kTorchLayerNormEps = 1e-5;
constexpr double kLayerNorm2dEps = 1e-6;

std::vector<int64_t> mlp_dims(int64_t in, int64_t hidden, int64_t out, int64_t layers) {
  std::vector<int64_t> dims{in};
  for (int64_t i = 0; i + 1 < layers; ++i) dims.push_back(hidden);
  dims.push_back(out);
  return dims;
}
}  // namespace

TrackerMaskDecoder::TrackerMaskDecoder(const TrackerMaskDecoderConfig& c, const io::WeightScope& s) : config_(c) {
  const int64_t d = c.hidden_size;
  const int64_t heads = c.num_attention_heads;
  const int64_t internal = d / c.attention_downsample_rate;
  const int64_t num_mask_tokens = c.num_multimask_outputs + 1;
  iou_token_ = s.take("iou_token.weight", {1, d});
  mask_tokens_ = s.take("mask_tokens.weight", {num_mask_tokens, d});
  obj_score_token_ = s.take("obj_score_token.weight", {1, d});
  io::WeightScope ts = s.sub("transformer");
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    io::WeightScope ls = ts.sub("layers", i);
    TwoWayBlock b;
    b.self_attn = nn::Attention(ls.sub("self_attn"), d, heads);
    b.layer_norm1 = nn::LayerNorm(ls.sub("layer_norm1"), d, kTorchLayerNormEps);
    b.cross_attn_token_to_image = nn::Attention(ls.sub("cross_attn_token_to_image"), d, heads, internal);
    b.layer_norm2 = nn::LayerNorm(ls.sub("layer_norm2"), d, kTorchLayerNormEps);
    b.mlp = nn::Mlp(ls.sub("mlp"), mlp_dims(d, c.mlp_dim, d, c.num_hidden_layers), nn::Activation::kRelu,
                    nn::Mlp::Naming::kProjInOut);
    b.layer_norm3 = nn::LayerNorm(ls.sub("layer_norm3"), d, kTorchLayerNormEps);
    b.layer_norm4 = nn::LayerNorm(ls.sub("layer_norm4"), d, kTorchLayerNormEps);
    b.cross_attn_image_to_token = nn::Attention(ls.sub("cross_attn_image_to_token"), d, heads, internal);
    layers_.push_back(std::move(b));
  }
  final_attn_token_to_image_ = nn::Attention(ts.sub("final_attn_token_to_image"), d, heads, internal);
  layer_norm_final_attn_ = nn::LayerNorm(ts.sub("layer_norm_final_attn"), d, kTorchLayerNormEps);
  upscale_conv1_ = nn::ConvTranspose2d(s.sub("upscale_conv1"), d, d / 4, 2, 2);
  upscale_conv2_ = nn::ConvTranspose2d(s.sub("upscale_conv2"), d / 4, d / 8, 2, 2);
  upscale_layer_norm_ = nn::LayerNorm2d(s.sub("upscale_layer_norm"), d / 4, kLayerNorm2dEps);
  for (int64_t i = 0; i < num_mask_tokens; ++i) {
    output_hypernetworks_mlps_.emplace_back(s.fp32_products().sub("output_hypernetworks_mlps", i), mlp_dims(d, d, d / 8, 3),
                                            nn::Activation::kRelu, nn::Mlp::Naming::kProjInOut);
  }
  iou_prediction_head_ = nn::Mlp(s.fp32_products().sub("iou_prediction_head"),
                                 mlp_dims(d, c.iou_head_hidden_dim, num_mask_tokens, c.iou_head_depth),
                                 nn::Activation::kRelu, nn::Mlp::Naming::kProjInOut);
  iou_prediction_head_.sigmoid_output = true;
  conv_s0_ = nn::Conv2d(s.sub("conv_s0"), d, d / 8, 1);
  conv_s1_ = nn::Conv2d(s.sub("conv_s1"), d, d / 4, 1);
  pred_obj_score_head_ = nn::Mlp(s.fp32_products().sub("pred_obj_score_head"), mlp_dims(d, d, 1, 3), nn::Activation::kRelu,
                                 nn::Mlp::Naming::kProjInOut);
}

namespace {

std::string shape_str(const at::Tensor& t) {
  if (!t.defined()) return "none";
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + std::to_string(t.size(i));
  return out + "]";
}

// [B, ...] -> [B * P, ...], each batch element repeated P times in a row.
at::Tensor repeat_per_prompt(const at::Tensor& x, int64_t P) { return P == 1 ? x : x.repeat_interleave(P, 0); }

}  // namespace

std::pair<at::Tensor, at::Tensor> TrackerMaskDecoder::select_stable_single_mask(const at::Tensor& all_masks,
                                                                                const at::Tensor& all_iou) const {
  const int64_t B = all_masks.size(0), P = all_masks.size(1), h = all_masks.size(3), w = all_masks.size(4);
  // Best multimask output (slots 1..M) by predicted IoU; the first on ties.
  const at::Tensor multi_masks = all_masks.slice(2, 1);                   // [B, P, M, h, w]
  const at::Tensor multi_iou = all_iou.slice(2, 1);                       // [B, P, M]
  const at::Tensor best = at::argmax(multi_iou, -1).unsqueeze(-1);        // [B, P, 1]
  const at::Tensor best_mask = at::gather(multi_masks, 2, best.view({B, P, 1, 1, 1}).expand({B, P, 1, h, w}));
  const at::Tensor best_iou = at::gather(multi_iou, 2, best);             // [B, P, 1]

  // Stability of mask 0: area(logit > delta) / area(logit > -delta), 1 when empty.
  const at::Tensor single_mask = all_masks.slice(2, 0, 1);                // [B, P, 1, h, w]
  const at::Tensor single_iou = all_iou.slice(2, 0, 1);                   // [B, P, 1]
  const double delta = config_.dynamic_multimask_stability_delta;
  const at::Tensor flat = single_mask.flatten(-2);                        // [B, P, 1, h*w]
  const at::Tensor area_i = flat.gt(delta).sum(-1).to(all_masks.scalar_type());
  const at::Tensor area_u = flat.gt(-delta).sum(-1).to(all_masks.scalar_type());
  const at::Tensor stability = area_i.div(area_u).masked_fill(area_u.le(0), 1.0);  // [B, P, 1]
  const at::Tensor stable = stability.ge(config_.dynamic_multimask_stability_thresh);

  at::Tensor masks = at::where(stable.view({B, P, 1, 1, 1}), single_mask, best_mask);
  at::Tensor iou = at::where(stable, single_iou, best_iou);
  return {masks, iou};
}

MaskDecoderOutput TrackerMaskDecoder::forward(const at::Tensor& image, const at::Tensor& image_pe,
                                              const at::Tensor& sparse, const at::Tensor& dense, bool multimask,
                                              const at::Tensor& feat_s0, const at::Tensor& feat_s1,
                                              MaskDecoderTrace* trace) const {
  const int64_t d = config_.hidden_size;
  SAM3RT_CHECK(image.defined() && image.dim() == 4 && image.size(1) == d, kInvalidArgument,
               "tracker mask decoder: image must be [B, ", d, ", G, G], got ", shape_str(image));
  const int64_t B = image.size(0), H = image.size(2), W = image.size(3);
  SAM3RT_CHECK(sparse.defined() && sparse.dim() == 4 && sparse.size(0) == B && sparse.size(3) == d,
               kInvalidArgument, "tracker mask decoder: sparse prompts must be [", B, ", P, N, ", d, "], got ",
               shape_str(sparse));
  SAM3RT_CHECK(image_pe.defined() && image_pe.dim() == 4 && (image_pe.size(0) == 1 || image_pe.size(0) == B) &&
                   image_pe.size(1) == d && image_pe.size(2) == H && image_pe.size(3) == W,
               kInvalidArgument, "tracker mask decoder: image PE ", shape_str(image_pe), " does not match image ",
               shape_str(image));
  SAM3RT_CHECK(dense.defined() && dense.dim() == 4 && (dense.size(0) == 1 || dense.size(0) == B) &&
                   dense.size(1) == d && dense.size(2) == H && dense.size(3) == W,
               kInvalidArgument, "tracker mask decoder: dense prompt ", shape_str(dense), " does not match image ",
               shape_str(image));
  SAM3RT_CHECK(feat_s0.defined() && feat_s0.dim() == 4 && feat_s0.size(0) == B && feat_s0.size(1) == d / 8 &&
                   feat_s0.size(2) == 4 * H && feat_s0.size(3) == 4 * W,
               kInvalidArgument, "tracker mask decoder: feat_s0 must be [", B, ", ", d / 8, ", ", 4 * H, ", ", 4 * W,
               "], got ", shape_str(feat_s0));
  SAM3RT_CHECK(feat_s1.defined() && feat_s1.dim() == 4 && feat_s1.size(0) == B && feat_s1.size(1) == d / 4 &&
                   feat_s1.size(2) == 2 * H && feat_s1.size(3) == 2 * W,
               kInvalidArgument, "tracker mask decoder: feat_s1 must be [", B, ", ", d / 4, ", ", 2 * H, ", ", 2 * W,
               "], got ", shape_str(feat_s1));
  const int64_t P = sparse.size(1);
  const int64_t num_mask_tokens = mask_tokens_.size(0);  // M + 1
  const int64_t num_out = 2 + num_mask_tokens;           // obj score, iou, mask tokens

  // Tokens: [obj_score, iou, mask_0..M, prompts...]; their initial values are also
  // their positional embedding ("token PE").
  const at::Tensor output_tokens = at::cat({obj_score_token_, iou_token_, mask_tokens_}, 0);  // [2+M+1, d]
  const at::Tensor tokens0 = at::cat(
      {output_tokens.view({1, 1, num_out, d}).expand({B, P, num_out, d}), sparse.to(output_tokens.scalar_type())},
      2);                                                   // [B, P, T, d]
  const int64_t T = tokens0.size(2);
  const at::Tensor token_pe = tokens0.reshape({B * P, T, d});  // [B*P, T, d]

  // Image tokens (pixel features + dense prompt) and their PE, one copy per prompt set.
  const at::Tensor image_tokens0 =
      repeat_per_prompt(image.add(dense), P).flatten(2).transpose(1, 2).contiguous();  // [B*P, HW, d]
  at::Tensor pe = image_pe.flatten(2).transpose(1, 2);                    // [1 or B, HW, d]
  if (pe.size(0) != 1) pe = repeat_per_prompt(pe, P);

  at::Tensor q = token_pe;
  at::Tensor k = image_tokens0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const TwoWayBlock& b = layers_[i];
    // 1. token self-attention (the first block replaces the tokens, without PE)
    if (i == 0) {
      q = b.self_attn.forward(q, q, q);
    } else {
      const at::Tensor qp = q.add(token_pe);
      q = q.add(b.self_attn.forward(qp, qp, q));
    }
    q = b.layer_norm1.forward(q);
    // 2. tokens -> image
    at::Tensor qp = q.add(token_pe);
    at::Tensor kp = k.add(pe);
    q = b.layer_norm2.forward(q.add(b.cross_attn_token_to_image.forward(qp, kp, k)));
    // 3. MLP on tokens
    q = b.layer_norm3.forward(q.add(b.mlp.forward(q)));
    // 4. image -> tokens
    qp = q.add(token_pe);
    kp = k.add(pe);
    const at::Tensor image_attn = b.cross_attn_image_to_token.forward(kp, qp, q);  // [B*P, HW, d]
    k = b.layer_norm4.forward(k.add(image_attn));
    if (trace) {
      trace->layer_tokens.push_back(q.view({B, P, T, d}));
      trace->layer_image.push_back(k);
      trace->layer_image_attn.push_back(image_attn);
    }
  }
  {
    const at::Tensor qp = q.add(token_pe);
    const at::Tensor kp = k.add(pe);
    q = layer_norm_final_attn_.forward(q.add(final_attn_token_to_image_.forward(qp, kp, k)));
  }
  const at::Tensor tokens = q.view({B, P, T, d});
  if (trace) {
    trace->tokens = tokens;
    trace->image = k;
  }

  // Upscale the image tokens with the high-resolution skips: [B*P, d/8, 4G, 4G].
  const at::Tensor image_out = k.transpose(1, 2).reshape({B * P, d, H, W});
  at::Tensor up = upscale_conv1_.forward(image_out).add(repeat_per_prompt(feat_s1, P));  // [B*P, d/4, 2G, 2G]
  up = at::gelu(upscale_layer_norm_.forward(up));
  up = at::gelu(upscale_conv2_.forward(up).add(repeat_per_prompt(feat_s0, P)));      // [B*P, d/8, 4G, 4G]
  const int64_t c = up.size(1), h = up.size(2), w = up.size(3);

  // Hypernetworks: one mask per mask token, the dot product with the upscaled map.
  const at::Tensor mask_tokens_out = tokens.slice(2, 2, 2 + num_mask_tokens);  // [B, P, M+1, d]
  std::vector<at::Tensor> hyper;
  hyper.reserve(num_mask_tokens);
  for (int64_t i = 0; i < num_mask_tokens; ++i) {
    hyper.push_back(output_hypernetworks_mlps_[i].forward(mask_tokens_out.select(2, i)));  // [B, P, d/8]
  }
  const at::Tensor hyper_in = at::stack(hyper, 2);                                      // [B, P, M+1, d/8]
  const at::Tensor all_masks =
      at::matmul(hyper_in, up.view({B, P, c, h * w})).view({B, P, num_mask_tokens, h, w});  // [B, P, M+1, 4G, 4G]

  const at::Tensor all_iou = iou_prediction_head_.forward(tokens.select(2, 1));            // [B, P, M+1]
  MaskDecoderOutput out;
  out.object_score_logits = pred_obj_score_head_.forward(tokens.select(2, 0));           // [B, P, 1]
  if (trace) {
    trace->all_masks = all_masks;
    trace->all_iou_scores = all_iou;
  }

  if (multimask) {
    out.masks = all_masks.slice(2, 1);
    out.iou_scores = all_iou.slice(2, 1);
    out.sam_tokens = mask_tokens_out.slice(2, 1);
  } else {
    if (config_.dynamic_multimask_via_stability) {
      std::tie(out.masks, out.iou_scores) = select_stable_single_mask(all_masks, all_iou);
    } else {
      out.masks = all_masks.slice(2, 0, 1);
      out.iou_scores = all_iou.slice(2, 0, 1);
    }
    // Always token 0, even when the stability fallback chose a multimask mask.
    out.sam_tokens = mask_tokens_out.slice(2, 0, 1);
  }
  return out;
}

}  // namespace sam3rt::models
