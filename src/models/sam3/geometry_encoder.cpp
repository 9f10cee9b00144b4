#include "models/sam3/geometry_encoder.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include "nn/position_encoding.h"
#include "nn/roi_align.h"
#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {
// transformers builds these LayerNorms with PyTorch's default eps, whatever the config's
// layer_norm_eps says (architecture §11 note).
constexpr double kTorchLayerNormEps = 1e-5;

// transformers' label of a padding box (Sam3Processor pads box lists with it).
constexpr int64_t kPaddingLabel = -10;
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
  const int64_t d = config_.hidden_size;
  // The box centre is encoded with d/2 sine channels per axis plus (h, w): d + 2 inputs.
  SAM3RT_CHECK(d % 2 == 0, kUnsupported, "geometry encoder: hidden_size ", d, " must be even");
  SAM3RT_CHECK(image.defined() && image.dim() == 4 && image.size(1) == d, kInvalidArgument,
               "geometry encoder: image features must be [B, ", d, ", H, W], got ", image.sizes());
  const int64_t B = image.size(0), H = image.size(2), W = image.size(3);
  SAM3RT_CHECK(image_pos.defined() && image_pos.dim() == 4 && (image_pos.size(0) == B || image_pos.size(0) == 1) &&
                   image_pos.size(1) == d && image_pos.size(2) == H && image_pos.size(3) == W,
               kInvalidArgument, "geometry encoder: image position encoding must be [B or 1, ", d, ", ", H, ", ", W,
               "], got ", image_pos.sizes());
  SAM3RT_CHECK(boxes.defined() && boxes.dim() == 3 && boxes.size(0) == B && boxes.size(2) == 4, kInvalidArgument,
               "geometry encoder: boxes must be [", B, ", K, 4], got ", boxes.sizes());
  const int64_t K = boxes.size(1);
  SAM3RT_CHECK(labels.defined() && labels.dim() == 2 && labels.size(0) == B && labels.size(1) == K, kInvalidArgument,
               "geometry encoder: labels must be [", B, ", ", K, "], got ", labels.sizes());
  SAM3RT_CHECK(valid.defined() && valid.dim() == 2 && valid.size(0) == B && valid.size(1) == K, kInvalidArgument,
               "geometry encoder: valid must be [", B, ", ", K, "], got ", valid.sizes());
  SAM3RT_CHECK(!labels.is_floating_point(), kInvalidArgument, "geometry encoder: labels must be integers");
  const at::TensorOptions opts = image.options();

  // Padding entries (label -10) are masked out and embedded with label 0, as
  // Sam3Model.forward does before calling the geometry encoder.
  const at::Tensor lab = labels.to(image.device(), at::kLong);
  const at::Tensor is_pad = lab.eq(kPaddingLabel);
  const at::Tensor box_valid = valid.to(image.device()).ne(0).logical_and(is_pad.logical_not());  // [B, K]
  const at::Tensor box_labels = lab.masked_fill(is_pad, 0);
  if (K > 0) {
    const int64_t lo = box_labels.min().item<int64_t>(), hi = box_labels.max().item<int64_t>();
    SAM3RT_CHECK(lo >= 0 && hi <= 1, kInvalidArgument, "geometry encoder: box labels must be 0 (negative), 1 (positive) ",
                 "or -10 (padding), got ", lo < 0 ? lo : hi);
    // The CLS token goes right after the last valid box (transformers'
    // concat_padded_sequences), which presumes right padding: valid boxes first.
    const bool valid_after_padding =
        K > 1 && box_valid.slice(1, 1, K).logical_and(box_valid.slice(1, 0, K - 1).logical_not()).any().item<bool>();
    SAM3RT_CHECK(!valid_after_padding, kInvalidArgument, "geometry encoder: padding boxes must follow the valid boxes");
  }

  // Image tokens for cross-attention (raw features), [B, HW, d].
  const at::Tensor vision = image.flatten(2).transpose(1, 2);
  const at::Tensor vision_key = vision.add(image_pos.to(image.device()).flatten(2).transpose(1, 2));

  // Per-box embeddings [B, K, d]: label + direct + pooled + centre position.
  at::Tensor box_embeds = at::zeros({B, 0, d}, opts);
  if (K > 0) {
    const at::Tensor bx = boxes.to(opts);  // [B, K, 4] cx, cy, w, h
    at::Tensor embeds = boxes_direct_project_.forward(bx);

    // RoIAlign on the LayerNorm-ed feature, boxes in feature pixels (xyxy).
    const at::Tensor normed = vision_layer_norm_.forward(image.permute({0, 2, 3, 1})).permute({0, 3, 1, 2});
    const at::Tensor cx = bx.select(-1, 0), cy = bx.select(-1, 1), bw = bx.select(-1, 2), bh = bx.select(-1, 3);
    const at::Tensor xyxy = at::stack({cx.sub(bw.mul(0.5)), cy.sub(bh.mul(0.5)), cx.add(bw.mul(0.5)), cy.add(bh.mul(0.5))}, -1)
                                .mul(at::tensor({static_cast<double>(W), static_cast<double>(H), static_cast<double>(W),
                                                 static_cast<double>(H)},
                                                opts));  // [B, K, 4]
    const at::Tensor batch_index = at::arange(B, opts).view({B, 1, 1}).expand({B, K, 1});
    const at::Tensor rois = at::cat({batch_index, xyxy}, -1).reshape({B * K, 5});
    const at::Tensor pooled = nn::roi_align(normed, rois, config_.roi_size, config_.roi_size, 1.0, -1, false);
    embeds = embeds.add(boxes_pool_project_.forward(pooled).view({B, K, d}));

    // Centre position: [sine(cy) | sine(cx) | h | w] -> d.
    const int64_t n = d / 2;
    const at::Tensor pos = at::cat({nn::sine_encode(cy, n), nn::sine_encode(cx, n), bh.unsqueeze(-1), bw.unsqueeze(-1)}, -1);
    embeds = embeds.add(boxes_pos_enc_project_.forward(pos));

    box_embeds = at::embedding(label_embed_, box_labels).add(embeds);
  }

  // Append the CLS token at index (number of valid boxes); rows after it are padding
  // (a padding box's embedding, or zeros in the extra last row).
  const at::Tensor num_valid = box_valid.sum(1);  // [B] int64
  at::Tensor seq = at::cat({box_embeds, at::zeros({B, 1, d}, opts)}, 1);  // [B, K+1, d]
  seq = seq.scatter(1, num_valid.view({B, 1, 1}).expand({B, 1, d}), cls_embed_.view({1, 1, d}).expand({B, 1, d}).to(opts));
  const at::Tensor mask = at::arange(K + 1, opts.dtype(at::kLong)).view({1, K + 1}).lt(num_valid.add(1).view({B, 1}));

  at::Tensor x = prompt_layer_norm_.forward(final_proj_.forward(seq));
  nn::AttentionMask self_mask;
  self_mask.key_valid = mask;
  for (const PreNormFusionLayer& layer : layers_) {
    at::Tensor h = layer.layer_norm1.forward(x);
    x = x.add(layer.self_attn.forward(h, h, h, self_mask));
    h = layer.layer_norm2.forward(x);
    x = x.add(layer.cross_attn.forward(h, vision_key, vision));
    x = x.add(layer.mlp.forward(layer.layer_norm3.forward(x)));
  }
  return {output_layer_norm_.forward(x), mask};
}

}  // namespace sam3rt::models
