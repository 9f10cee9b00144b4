#include "models/sam2/hiera.h"

#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/max_pool2d.h>
#include <ATen/ops/upsample_bicubic2d.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {

// x [B, H, W, C] -> max-pooled by `stride` (floor), channels last.
at::Tensor pool(const at::Tensor& x, int64_t stride) {
  if (stride <= 1) return x;
  return at::max_pool2d(x.permute({0, 3, 1, 2}), {stride, stride}, {stride, stride}).permute({0, 2, 3, 1});
}

// x [B, H, W, C] -> windows [B * nh * nw, w, w, C], zero-padded at the bottom and right.
at::Tensor partition(const at::Tensor& x, int64_t w) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const int64_t Hp = (H + w - 1) / w * w, Wp = (W + w - 1) / w * w;
  at::Tensor p = (Hp != H || Wp != W) ? at::constant_pad_nd(x, {0, 0, 0, Wp - W, 0, Hp - H}) : x;
  return p.reshape({B, Hp / w, w, Wp / w, w, C}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, w, w, C});
}

// windows [B * nh * nw, w, w, C] of a grid padded up from H x W -> [B, H, W, C].
at::Tensor unpartition(const at::Tensor& windows, int64_t w, int64_t H, int64_t W) {
  const int64_t Hp = (H + w - 1) / w * w, Wp = (W + w - 1) / w * w, C = windows.size(3);
  const int64_t B = windows.size(0) / ((Hp / w) * (Wp / w));
  at::Tensor x = windows.reshape({B, Hp / w, Wp / w, w, w, C}).permute({0, 1, 3, 2, 4, 5}).reshape({B, Hp, Wp, C});
  if (Hp != H || Wp != W) x = x.slice(1, 0, H).slice(2, 0, W);
  return x.contiguous();
}

}  // namespace

Hiera::Hiera(const HieraConfig& c, const io::WeightScope& s) : config_(c) {
  const int64_t C = c.hidden_size;
  patch_embed_ = nn::Conv2d(s.sub("patch_embed.projection"), c.num_channels, C, c.patch_kernel_size[0],
                            c.patch_stride[0], c.patch_padding[0]);
  pos_embed_ = s.take("pos_embed", {1, C, c.window_positional_embedding_background_size[0],
                                    c.window_positional_embedding_background_size[1]});
  const int64_t w0 = c.window_size_per_stage[0];
  pos_embed_window_ = s.take("pos_embed_window", {1, C, w0, w0});

  int64_t index = 0;
  for (size_t stage = 0; stage < c.blocks_per_stage.size(); ++stage) {
    for (int64_t j = 0; j < c.blocks_per_stage[stage]; ++j, ++index) {
      const bool first = stage > 0 && j == 0;  // the block that enters the stage
      HieraBlock b;
      b.dim = first ? c.embed_dim_per_stage[stage - 1] : c.embed_dim_per_stage[stage];
      b.dim_out = c.embed_dim_per_stage[stage];
      b.heads = c.num_attention_heads_per_stage[stage];
      b.window = first ? c.window_size_per_stage[stage - 1] : c.window_size_per_stage[stage];
      if (std::find(c.global_attention_blocks.begin(), c.global_attention_blocks.end(), index) !=
          c.global_attention_blocks.end()) {
        b.window = 0;
      }
      if (first && static_cast<int64_t>(stage) <= c.num_query_pool_stages) b.query_stride = c.query_stride[0];
      // The residual is pooled only through the widening projection (as the reference).
      SAM3RT_CHECK(b.query_stride == 1 || b.dim != b.dim_out, kUnsupported, "Hiera block ", index,
                   " pools its queries but keeps its width ", b.dim, ": unsupported");
      SAM3RT_CHECK(b.window == 0 || b.query_stride == 1 || b.window % b.query_stride == 0, kUnsupported,
                   "Hiera block ", index, ": window ", b.window, " is not a multiple of the query stride ",
                   b.query_stride);
      io::WeightScope bs = s.sub("blocks", index);
      b.layer_norm1 = nn::LayerNorm(bs.sub("layer_norm1"), b.dim, c.layer_norm_eps);
      b.qkv = nn::Linear(bs.sub("attn.qkv"), b.dim, 3 * b.dim_out);
      b.attn_proj = nn::Linear(bs.sub("attn.proj"), b.dim_out, b.dim_out);
      b.layer_norm2 = nn::LayerNorm(bs.sub("layer_norm2"), b.dim_out, c.layer_norm_eps);
      const auto hidden = static_cast<int64_t>(static_cast<double>(b.dim_out) * c.mlp_ratio);
      b.mlp = nn::Mlp(bs.sub("mlp"), {b.dim_out, hidden, b.dim_out}, nn::Activation::kGelu,
                      nn::Mlp::Naming::kProjInOut);
      if (b.dim != b.dim_out) b.proj.emplace(bs.sub("proj"), b.dim, b.dim_out);
      b.kernel = nn::attention_kernel(s.placement());
      blocks_.push_back(std::move(b));
    }
    stage_ends_.push_back(index - 1);
  }
}

at::Tensor Hiera::position_embedding(int64_t h, int64_t w, const at::TensorOptions& options) const {
  const int64_t w0 = pos_embed_window_.size(2);
  SAM3RT_CHECK(h % w0 == 0 && w % w0 == 0, kInvalidArgument, "Hiera grid ", h, "x", w,
               " is not a multiple of the window embedding's ", w0);
  at::Tensor pos = at::upsample_bicubic2d(pos_embed_.to(at::kFloat), {h, w}, /*align_corners=*/false);  // [1, C, h, w]
  pos = pos.add(pos_embed_window_.to(at::kFloat).repeat({1, 1, h / w0, w / w0}));
  return pos.permute({0, 2, 3, 1}).to(options);  // [1, h, w, C]
}

at::Tensor Hiera::run_block(const HieraBlock& b, const at::Tensor& x) const {
  const int64_t hd = b.dim_out / b.heads;
  at::Tensor h = b.layer_norm1.forward(x);  // [B, H, W, dim]
  // The residual of a widening block is the projected, pooled normalised input.
  at::Tensor residual = b.proj ? pool(b.proj->forward(h), b.query_stride) : x;  // [B, H', W', dim_out]
  if (b.window > 0) h = partition(h, b.window);  // [B', w, w, dim]
  const int64_t Bp = h.size(0), hh = h.size(1), ww = h.size(2);

  // q, k, v [B', N, heads, hd]; queries pooled on their grid.
  at::Tensor qkv = b.qkv.forward(h).view({Bp, hh * ww, 3, b.heads, hd});
  at::Tensor q = qkv.select(2, 0), k = qkv.select(2, 1), v = qkv.select(2, 2);
  int64_t qh = hh, qw = ww;
  if (b.query_stride > 1) {
    q = pool(q.reshape({Bp, hh, ww, b.heads * hd}), b.query_stride);  // [B', hh/s, ww/s, heads*hd]
    qh = q.size(1);
    qw = q.size(2);
    q = q.reshape({Bp, qh * qw, b.heads, hd});
  }
  at::Tensor o = nn::scaled_dot_product_attention(q.transpose(1, 2).contiguous(), k.transpose(1, 2).contiguous(),
                                                  v.transpose(1, 2).contiguous(), {},
                                                  1.0 / std::sqrt(static_cast<double>(hd)), b.kernel);
  o = b.attn_proj.forward(o.transpose(1, 2).reshape({Bp, qh, qw, b.dim_out}));  // [B', qh, qw, dim_out]
  if (b.window > 0) o = unpartition(o, b.window / b.query_stride, residual.size(1), residual.size(2));
  at::Tensor out = residual.add(o);  // [B, H', W', dim_out]
  return out.add(b.mlp.forward(b.layer_norm2.forward(out)));
}

std::vector<at::Tensor> Hiera::forward(const at::Tensor& pixel_values, Trace* trace) const {
  const HieraConfig& c = config_;
  const int64_t S = c.image_size[0];
  SAM3RT_CHECK(pixel_values.defined() && pixel_values.dim() == 4 && pixel_values.size(0) > 0 &&
                   pixel_values.size(1) == c.num_channels && pixel_values.size(2) == S &&
                   pixel_values.size(3) == c.image_size[1],
               kInvalidArgument, "Hiera expects pixel values [B, ", c.num_channels, ", ", S, ", ", c.image_size[1],
               "], got ", pixel_values.defined() ? pixel_values.sizes() : at::IntArrayRef{});
  SAM3RT_CHECK(at::isFloatingType(pixel_values.scalar_type()), kInvalidArgument,
               "Hiera expects floating-point pixel values, got ", pixel_values.scalar_type());
  at::Tensor x = patch_embed_.forward(pixel_values).permute({0, 2, 3, 1});  // [B, h, w, C]
  record(trace, "vision_encoder.backbone.patch_embed", x);
  const at::Tensor pos = position_embedding(x.size(1), x.size(2), x.options());  // [1, h, w, C]
  record(trace, "vision_encoder.backbone.pos_embed", pos);
  x = x.add(pos).contiguous();
  std::vector<at::Tensor> stages;
  size_t next_end = 0;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    x = run_block(blocks_[i], x);
    record(trace, "vision_encoder.backbone.blocks." + std::to_string(i), x);
    if (next_end < stage_ends_.size() && static_cast<int64_t>(i) == stage_ends_[next_end]) {
      record(trace, "vision_encoder.backbone.intermediate_hidden_states." + std::to_string(next_end), x);
      stages.push_back(x);
      ++next_end;
    }
  }
  record(trace, "vision_encoder.backbone.last_hidden_state", x);
  return stages;
}

}  // namespace sam3rt::models
