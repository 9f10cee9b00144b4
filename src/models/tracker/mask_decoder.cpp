#include "models/tracker/mask_decoder.h"

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
    output_hypernetworks_mlps_.emplace_back(s.sub("output_hypernetworks_mlps", i), mlp_dims(d, d, d / 8, 3),
                                            nn::Activation::kRelu, nn::Mlp::Naming::kProjInOut);
  }
  iou_prediction_head_ = nn::Mlp(s.sub("iou_prediction_head"),
                                 mlp_dims(d, c.iou_head_hidden_dim, num_mask_tokens, c.iou_head_depth),
                                 nn::Activation::kRelu, nn::Mlp::Naming::kProjInOut);
  iou_prediction_head_.sigmoid_output = true;
  conv_s0_ = nn::Conv2d(s.sub("conv_s0"), d, d / 8, 1);
  conv_s1_ = nn::Conv2d(s.sub("conv_s1"), d, d / 4, 1);
  pred_obj_score_head_ = nn::Mlp(s.sub("pred_obj_score_head"), mlp_dims(d, d, 1, 3), nn::Activation::kRelu,
                                 nn::Mlp::Naming::kProjInOut);
}

MaskDecoderOutput TrackerMaskDecoder::forward(const at::Tensor& image, const at::Tensor& image_pe,
                                              const at::Tensor& sparse, const at::Tensor& dense, bool multimask,
                                              const at::Tensor& feat_s0, const at::Tensor& feat_s1) const {
  SAM3RT_FAIL(kUnsupported, "TrackerMaskDecoder::forward is not implemented yet");
}

}  // namespace sam3rt::models
