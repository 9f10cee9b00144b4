#include "models/sam3/vision_backbone.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/gelu.h>

#include <algorithm>
#include <cmath>

#include "sam3rt/error.h"

namespace sam3rt::models {

VisionBackbone::VisionBackbone(const VitConfig& c, const io::WeightScope& s) : config_(c) {
  const int64_t D = c.hidden_size;
  const int64_t P = c.pretrain_grid();
  patch_weight_ = s.take("embeddings.patch_embeddings.projection.weight", {D, c.num_channels, c.patch_size, c.patch_size})
                      .to(s.placement().matmul_dtype);
  position_table_ = s.take("embeddings.position_embeddings", {1, P * P, D});
  layer_norm_ = nn::LayerNorm(s.sub("layer_norm"), D, c.layer_norm_eps);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    io::WeightScope ls = s.sub("layers", i);
    VitLayer layer;
    layer.layer_norm1 = nn::LayerNorm(ls.sub("layer_norm1"), D, c.layer_norm_eps);
    layer.attention = nn::Attention(ls.sub("attention"), D, c.num_attention_heads);
    layer.layer_norm2 = nn::LayerNorm(ls.sub("layer_norm2"), D, c.layer_norm_eps);
    layer.mlp = nn::Mlp(ls.sub("mlp"), {D, c.intermediate_size, D}, nn::Activation::kGelu, nn::Mlp::Naming::kFc);
    layer.global = std::find(c.global_attn_indexes.begin(), c.global_attn_indexes.end(), i) != c.global_attn_indexes.end();
    layers_.push_back(std::move(layer));
  }

  // RoPE: windowed blocks see window-local integer positions; global blocks see the whole
  // grid with positions scaled by window / G, so both span the same range of angles.
  const int64_t G = c.grid();
  SAM3RT_CHECK(G > 0 && P > 0, kCorruption, "ViT config: image_size ", c.image_size, " and pretrain_image_size ",
               c.pretrain_image_size, " must each hold at least one ", c.patch_size, "-pixel patch");
  // Both tables live where the weights do (built once, not copied per forward).
  const at::Device device = s.placement().device;
  if (c.window_size > 0) {
    window_rope_ = nn::rope_axial_table(c.window_size, c.window_size, c.head_dim(), c.rope_theta).to(device);
  }
  global_rope_ = nn::rope_axial_table(G, G, c.head_dim(), c.rope_theta,
                                      static_cast<double>(c.window_size) / static_cast<double>(G))
                     .to(device);
}

void VisionBackbone::run_layer(const VitLayer& layer, at::Tensor& x, const nn::RopeTable& window_rope,
                               const nn::RopeTable& global_rope) const {
  const int64_t B = x.size(0), G = x.size(1), D = x.size(3);
  const int64_t w = config_.window_size;
  const bool windowed = !layer.global && w > 0;
  const int64_t Gp = windowed ? (G + w - 1) / w * w : G;  // grid padded to whole windows
  const int64_t nw = windowed ? Gp / w : 1;               // windows per side
  const nn::Attention& attn = layer.attention;
  const int64_t H = attn.num_heads, hd = attn.head_dim;

  // Every temporary below is one [tokens, D] matrix (21 MB at 1008 px) or a bounded chunk:
  // no score matrix of the whole grid, no [tokens, 4D] MLP activation, and the residual
  // adds go straight into x (in place), so the big blocks are reused from the heap.
  at::Tensor h = layer.layer_norm1.forward(x);  // [B, G, G, D]
  if (windowed) {
    // Zero tokens pad the grid to whole windows; they take part in attention as keys.
    if (Gp != G) h = at::constant_pad_nd(h, {0, 0, 0, Gp - G, 0, Gp - G});  // [B, Gp, Gp, D]
    h = h.view({B, nw, w, nw, w, D}).permute({0, 1, 3, 2, 4, 5}).reshape({B * nw * nw, w * w, D});
  } else {
    h = h.view({B, G * G, D});
  }
  // h: [B', N, D] with B' = B * windows, N = tokens per window (or G*G).
  const int64_t Bp = h.size(0), N = h.size(1);
  const nn::RopeTable& rope = windowed ? window_rope : global_rope;
  // RoPE in place on the projection output [B', N, H, d] (float32), times `scale`; other
  // dtypes rotate in float32 through apply_rope, as the reference does.
  const auto rotate = [&](at::Tensor t, double scale) {
    if (t.scalar_type() == at::kFloat) {
      nn::apply_rope_tokens_heads_(t, rope, scale);
      return t;
    }
    at::Tensor r = nn::apply_rope(t.transpose(1, 2), rope).transpose(1, 2);
    return scale == 1.0 ? r : r.mul(scale);
  };
  at::Tensor q = rotate(attn.q_proj.forward(h).view({Bp, N, H, hd}), 1.0 / std::sqrt(static_cast<double>(hd)));
  at::Tensor k = rotate(attn.k_proj.forward(h).view({Bp, N, H, hd}), 1.0);
  at::Tensor v = attn.v_proj.forward(h).view({Bp, N, H, hd});  // [B', N, H, d]
  h.reset();
  // [B', H, N, d] view of a [B', N, H, d] buffer: merging heads is a view.
  // With bf16 products on a GPU the attention runs in bf16 too (LibTorch's fused kernels,
  // fp32 softmax inside), as nn::Attention::attend does; on the CPU it stays fp32.
  const at::ScalarType adt = attn.o_proj.weight.scalar_type();
  if (q.is_cuda() && adt != q.scalar_type()) {
    q = q.to(adt);
    k = k.to(adt);
    v = v.to(adt);
  }
  at::Tensor o =
      nn::scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), {}, 1.0, attn.kernel);
  q.reset();
  k.reset();
  v.reset();
  o = o.transpose(1, 2).reshape({Bp, N, H * hd});  // [B', N, D], a view
  if (windowed) {
    // Back to grid order before the output projection (it acts per token).
    o = o.view({B, nw, nw, w, w, D}).permute({0, 1, 3, 2, 4, 5}).reshape({B, Gp, Gp, D});
    if (Gp != G) o = o.slice(1, 0, G).slice(2, 0, G).contiguous();  // [B, G, G, D]
  }
  // x += o W^T + b, accumulated by the GEMM into x.
  at::Tensor x2 = x.view({B * G * G, D});
  attn.o_proj.accumulate_into(x2, o.view({B * G * G, D}));  // x += o W^T + b, no temporary
  o.reset();

  // MLP on row chunks: x += fc2(gelu(fc1(ln2(x)))). Equal chunks whose hidden
  // activation stays below 30 MiB (heap-reused; 4 x 1296 rows at 1008 px).
  constexpr int64_t kMlpHiddenBytes = 30ll << 20;
  const nn::Linear& fc1 = layer.mlp.layers.at(0);
  const nn::Linear& fc2 = layer.mlp.layers.at(1);
  const int64_t T = x2.size(0);
  const int64_t hidden_bytes = T * fc1.weight.size(0) * static_cast<int64_t>(x2.element_size());
  // Chunks keep a CPU's caches warm; a GPU runs the whole MLP in one launch per layer.
  const int64_t chunks =
      x2.is_cpu() ? std::max<int64_t>(1, (hidden_bytes + kMlpHiddenBytes - 1) / kMlpHiddenBytes) : 1;
  const int64_t rows = (T + chunks - 1) / chunks;
  for (int64_t r0 = 0; r0 < T; r0 += rows) {
    at::Tensor xc = x2.narrow(0, r0, std::min(rows, T - r0));  // contiguous rows
    at::Tensor f = fc1.forward(layer.layer_norm2.forward(xc));
    at::gelu_(f);
    fc2.accumulate_into(xc, f);
  }
}

at::Tensor VisionBackbone::forward(const at::Tensor& pixel_values, VitTrace* trace) const {
  const VitConfig& c = config_;
  const int64_t S = c.image_size, G = c.grid(), P = c.pretrain_grid(), D = c.hidden_size;
  SAM3RT_CHECK(pixel_values.defined() && pixel_values.dim() == 4 && pixel_values.size(0) > 0 &&
                   pixel_values.size(1) == c.num_channels && pixel_values.size(2) == S && pixel_values.size(3) == S,
               kInvalidArgument, "vision backbone expects pixel values [B, ", c.num_channels, ", ", S, ", ", S,
               "], got ", pixel_values.defined() ? pixel_values.sizes() : at::IntArrayRef{});
  SAM3RT_CHECK(at::isFloatingType(pixel_values.scalar_type()), kInvalidArgument,
               "vision backbone expects floating-point pixel values, got ", pixel_values.scalar_type());
  const int64_t B = pixel_values.size(0);

  // Patch embedding (no bias), channels last: [B, D, G, G] -> [B, G, G, D].
  at::Tensor x = at::conv2d(pixel_values.to(patch_weight_.device(), patch_weight_.scalar_type()), patch_weight_, {},
                            {c.patch_size, c.patch_size})
                     .permute({0, 2, 3, 1})
                     .to(at::kFloat)
                     .contiguous();
  // The pretrain P x P table tiled over the G x G grid: pos[r][c] = table[r mod P][c mod P].
  at::Tensor wrap = at::arange(G, at::TensorOptions().dtype(at::kLong).device(position_table_.device())).remainder(P);
  x.add_(position_table_.view({P, P, D}).index_select(0, wrap).index_select(1, wrap));  // [G, G, D] broadcast
  if (trace) trace->embeddings = x.view({B, G * G, D});  // x is not written to again

  x = layer_norm_.forward(x);  // ln_pre, [B, G, G, D]
  if (trace) {
    trace->ln_pre = x.clone();
    trace->layers.clear();
  }
  const nn::RopeTable window_rope = window_rope_.to(x.device());
  const nn::RopeTable global_rope = global_rope_.to(x.device());
  for (const VitLayer& layer : layers_) {
    run_layer(layer, x, window_rope, global_rope);
    if (trace) trace->layers.push_back(x.clone());
  }
  return x.permute({0, 3, 1, 2}).contiguous();  // [B, D, G, G]
}

}  // namespace sam3rt::models
