#include "models/tracker/prompt_encoder.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/stack.h>

#include <cmath>

#include "sam3rt/error.h"

namespace sam3rt::models {

FourierPositionalEncoding::FourierPositionalEncoding(const io::WeightScope& s, int64_t d, double scale_)
    : gaussian(s.take("positional_embedding", {2, d / 2})), scale(scale_) {}

at::Tensor FourierPositionalEncoding::forward(const at::Tensor& coords) const {
  at::Tensor u = coords.mul(2.0).sub(1.0);
  at::Tensor phi = at::matmul(u, gaussian).mul(2.0 * M_PI);
  return at::cat({phi.sin(), phi.cos()}, -1);
}

at::Tensor FourierPositionalEncoding::grid(int64_t h, int64_t w) const {
  auto opts = gaussian.options();
  at::Tensor ys = at::arange(h, opts).add(0.5).div(h);
  at::Tensor xs = at::arange(w, opts).add(0.5).div(w);
  at::Tensor coords = at::stack({xs.view({1, w}).expand({h, w}), ys.view({h, 1}).expand({h, w})}, -1);  // [h, w, 2]
  return forward(coords).permute({2, 0, 1}).unsqueeze(0);  // [1, d, h, w]
}

PromptEncoder::PromptEncoder(const PromptEncoderConfig& c, const io::WeightScope& s) : config_(c) {
  const int64_t d = c.hidden_size;
  const int64_t mic = c.mask_input_channels;
  shared_embedding_ = FourierPositionalEncoding(s.sub("shared_embedding"), d, c.scale);
  mask_conv1_ = nn::Conv2d(s.sub("mask_embed.conv1"), 1, mic / 4, 2, 2);
  mask_layer_norm1_ = nn::LayerNorm2d(s.sub("mask_embed.layer_norm1"), mic / 4, c.layer_norm_eps);
  mask_conv2_ = nn::Conv2d(s.sub("mask_embed.conv2"), mic / 4, mic, 2, 2);
  mask_layer_norm2_ = nn::LayerNorm2d(s.sub("mask_embed.layer_norm2"), mic, c.layer_norm_eps);
  mask_conv3_ = nn::Conv2d(s.sub("mask_embed.conv3"), mic, d, 1);
  no_mask_embed_ = s.take("no_mask_embed.weight", {1, d});
  point_embed_ = s.take("point_embed.weight", {c.num_point_embeddings, d});
  not_a_point_embed_ = s.take("not_a_point_embed.weight", {1, d});
}

PromptEmbeddings PromptEncoder::forward(const at::Tensor& points, const at::Tensor& labels, const at::Tensor& boxes,
                                        const at::Tensor& mask_input) const {
  SAM3RT_FAIL(kUnsupported, "PromptEncoder::forward is not implemented yet");
}

}  // namespace sam3rt::models
