#include "models/tracker/prompt_encoder.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/full.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>

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

namespace {

// "[2, 3, 4]" for messages.
std::string shape_str(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + std::to_string(t.size(i));
  return out + "]";
}

}  // namespace

at::Tensor PromptEncoder::embed_points(const at::Tensor& points, const at::Tensor& labels, bool pad) const {
  const int64_t B = points.size(0), P = points.size(1);
  const auto opts = point_embed_.options();
  at::Tensor coords = points.to(opts).add(0.5);  // pixel centres
  at::Tensor lab = labels.to(opts.dtype(at::kLong));
  if (pad) {  // the padding point (0, 0), label -1, appended after the shift
    coords = at::cat({coords, at::zeros({B, P, 1, 2}, coords.options())}, 2);
    lab = at::cat({lab, at::full({B, P, 1}, -1, lab.options())}, 2);
  }
  at::Tensor pe = shared_embedding_.forward(coords.div(static_cast<double>(config_.image_size)));  // [B, P, N, d]
  const at::Tensor l = lab.unsqueeze(-1);                                                         // [B, P, N, 1]
  pe = at::where(l.eq(-1), not_a_point_embed_, pe);
  pe = pe.masked_fill(l.eq(-10), 0.0);
  const at::Tensor label_embed = at::embedding(point_embed_, lab.clamp_min(0));  // [B, P, N, d]
  return pe.add(label_embed.mul(l.ge(0).to(pe.scalar_type())));
}

at::Tensor PromptEncoder::embed_boxes(const at::Tensor& boxes) const {
  const int64_t B = boxes.size(0), P = boxes.size(1);
  at::Tensor corners = boxes.to(point_embed_.options()).add(0.5).reshape({B, P, 2, 2});
  corners = at::cat({corners, at::zeros({B, P, 1, 2}, corners.options())}, 2);  // [B, P, 3, 2], + padding
  // [B, P, 3, d]
  const at::Tensor pe = shared_embedding_.forward(corners.div(static_cast<double>(config_.image_size)));
  const at::Tensor top_left = pe.select(2, 0).add(point_embed_.select(0, 2));
  const at::Tensor bottom_right = pe.select(2, 1).add(point_embed_.select(0, 3));
  const at::Tensor padding = not_a_point_embed_.expand({B, P, not_a_point_embed_.size(1)});
  return at::stack({top_left, bottom_right, padding}, 2);  // [B, P, 3, d]
}

at::Tensor PromptEncoder::embed_mask(const at::Tensor& mask_input) const {
  const int64_t side = 4 * grid();
  SAM3RT_CHECK(mask_input.dim() == 4 && mask_input.size(1) == 1 && mask_input.size(2) == side &&
                   mask_input.size(3) == side,
               kInvalidArgument, "tracker mask input must be [B, 1, ", side, ", ", side, "], got ",
               shape_str(mask_input));
  at::Tensor h = mask_conv1_.forward(mask_input.to(no_mask_embed_.scalar_type()));  // [B, c/4, 2G, 2G]
  h = at::gelu(mask_layer_norm1_.forward(h));
  h = at::gelu(mask_layer_norm2_.forward(mask_conv2_.forward(h)));  // [B, c, G, G]
  return mask_conv3_.forward(h);                                    // [B, d, G, G]
}

PromptEmbeddings PromptEncoder::forward(const at::Tensor& points, const at::Tensor& labels, const at::Tensor& boxes,
                                        const at::Tensor& mask_input) const {
  SAM3RT_CHECK(points.defined() || boxes.defined(), kInvalidArgument,
               "the tracker prompt encoder needs points or boxes");
  int64_t B = 0, P = 0;
  at::Tensor sparse;
  if (points.defined()) {
    SAM3RT_CHECK(points.dim() == 4 && points.size(3) == 2, kInvalidArgument,
                 "tracker points must be [B, P, N, 2], got ", shape_str(points));
    SAM3RT_CHECK(labels.defined() && labels.dim() == 3 && labels.size(0) == points.size(0) &&
                     labels.size(1) == points.size(1) && labels.size(2) == points.size(2),
                 kInvalidArgument, "tracker point labels must be [B, P, N] matching points ", shape_str(points),
                 ", got ", labels.defined() ? shape_str(labels) : std::string("none"));
    SAM3RT_CHECK(!labels.is_floating_point() && !labels.is_complex(), kInvalidArgument,
                 "tracker point labels must be integers");
    if (labels.numel() > 0) {
      const at::Tensor ok = labels.eq(-10).logical_or(labels.eq(-1)).logical_or(
          labels.ge(0).logical_and(labels.lt(config_.num_point_embeddings)));
      SAM3RT_CHECK(ok.all().item<bool>(), kInvalidArgument,
                   "tracker point labels must be 1, 0, 2, 3, -1 or -10");
    }
    B = points.size(0);
    P = points.size(1);
    sparse = embed_points(points, labels, /*pad=*/!boxes.defined());
  }
  if (boxes.defined()) {
    SAM3RT_CHECK(boxes.dim() == 3 && boxes.size(2) == 4, kInvalidArgument, "tracker boxes must be [B, P, 4], got ",
                 shape_str(boxes));
    SAM3RT_CHECK(!points.defined() || (boxes.size(0) == B && boxes.size(1) == P), kInvalidArgument,
                 "tracker boxes ", shape_str(boxes), " do not match points ", shape_str(points),
                 " (one box per prompt set)");
    B = boxes.size(0);
    P = boxes.size(1);
    const at::Tensor box_tokens = embed_boxes(boxes);
    sparse = sparse.defined() ? at::cat({sparse, box_tokens}, 2) : box_tokens;
  }
  PromptEmbeddings out;
  out.sparse = sparse;
  if (mask_input.defined()) {
    SAM3RT_CHECK(mask_input.dim() == 4 && mask_input.size(0) == B, kInvalidArgument,
                 "tracker mask input ", shape_str(mask_input), " does not match the batch of the prompts (", B, ")");
    out.dense = embed_mask(mask_input);
  } else {
    const int64_t g = grid();
    out.dense = no_mask_embed_.reshape({1, -1, 1, 1}).expand({B, no_mask_embed_.size(1), g, g});
  }
  return out;
}

}  // namespace sam3rt::models
