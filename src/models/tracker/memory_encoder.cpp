#include "models/tracker/memory_encoder.h"

#include "nn/position_encoding.h"
#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {
constexpr double kLayerNorm2dEps = 1e-6;
}  // namespace

MemoryEncoder::MemoryEncoder(const TrackerVideoConfig& c, const io::WeightScope& s) : config_(c) {
  const int64_t d = c.memory_encoder_hidden_size;
  io::WeightScope ds = s.sub("mask_downsampler");
  int64_t in = 1;
  int64_t layer = 0;
  for (int64_t stride = 1; stride < c.mask_downsampler_total_stride; stride *= c.mask_downsampler_stride, ++layer) {
    const int64_t out = in * c.mask_downsampler_stride * c.mask_downsampler_stride;
    io::WeightScope ls = ds.sub("layers", layer);
    downsampler_.push_back({nn::Conv2d(ls.sub("conv"), in, out, c.mask_downsampler_kernel_size, c.mask_downsampler_stride,
                                       c.mask_downsampler_padding),
                            nn::LayerNorm2d(ls.sub("layer_norm"), out, kLayerNorm2dEps)});
    in = out;
  }
  downsampler_final_conv_ = nn::Conv2d(ds.sub("final_conv"), in, c.mask_downsampler_embed_dim, 1);
  feature_projection_ = nn::Conv2d(s.sub("feature_projection"), d, d, 1);
  const int64_t f = c.memory_fuser_embed_dim;
  for (int64_t i = 0; i < c.memory_fuser_num_layers; ++i) {
    io::WeightScope ls = s.sub("memory_fuser.layers", i);
    FuserBlock b;
    b.depthwise_conv = nn::Conv2d(ls.sub("depthwise_conv"), f, f, c.memory_fuser_kernel_size, 1, c.memory_fuser_padding,
                                  true, f);
    b.layer_norm = nn::LayerNorm2d(ls.sub("layer_norm"), f, kLayerNorm2dEps);
    b.pointwise_conv1 = nn::Linear(ls.sub("pointwise_conv1"), f, c.memory_fuser_intermediate_dim);
    b.pointwise_conv2 = nn::Linear(ls.sub("pointwise_conv2"), c.memory_fuser_intermediate_dim, f);
    b.scale = ls.take("scale", {f});
    fuser_.push_back(std::move(b));
  }
  projection_ = nn::Conv2d(s.sub("projection"), d, c.memory_encoder_output_channels, 1);
}

at::Tensor MemoryEncoder::forward(const at::Tensor& features, const at::Tensor& mask) const {
  const int64_t d = config_.memory_encoder_hidden_size;
  SAM3RT_CHECK(features.dim() == 4 && features.size(1) == d, kInvalidArgument,
               "memory encoder features must be [B, ", d, ", G, G], got ", features.sizes());
  const int64_t B = features.size(0), h = features.size(2), w = features.size(3);
  const int64_t stride = config_.mask_downsampler_total_stride;
  SAM3RT_CHECK(mask.dim() == 4 && mask.size(0) == B && mask.size(1) == 1 && mask.size(2) == h * stride &&
                   mask.size(3) == w * stride,
               kInvalidArgument, "memory encoder mask must be [", B, ", 1, ", h * stride, ", ", w * stride, "], got ",
               mask.sizes());
  // Mask downsampler: (conv, LayerNorm2d, GELU) per stride step, then a 1x1 conv.
  at::Tensor m = mask;  // [B, 1, G*s, G*s]
  for (const MaskDownsamplerLayer& l : downsampler_) {
    m = nn::activate(l.layer_norm.forward(l.conv.forward(m)), nn::Activation::kGelu);
  }
  m = downsampler_final_conv_.forward(m);  // [B, d, G, G]
  SAM3RT_CHECK(m.size(2) == h && m.size(3) == w, kInvalidArgument, "mask downsampler gives ", m.size(2), " x ",
               m.size(3), ", the features are ", h, " x ", w);
  at::Tensor x = feature_projection_.forward(features).add(m);  // [B, d, G, G]
  // ConvNeXt fuser: depthwise conv, LayerNorm2d, pointwise MLP, layer scale, residual.
  for (const FuserBlock& b : fuser_) {
    at::Tensor y = b.layer_norm.forward(b.depthwise_conv.forward(x)).permute({0, 2, 3, 1});  // [B, G, G, d]
    y = b.pointwise_conv2.forward(nn::activate(b.pointwise_conv1.forward(y), nn::Activation::kGelu)).mul(b.scale);
    x = x.add(y.permute({0, 3, 1, 2}));
  }
  return projection_.forward(x);  // [B, mem_dim, G, G]
}

at::Tensor MemoryEncoder::position_encoding(int64_t grid, const at::TensorOptions& options) const {
  return nn::sine_position_grid(grid, grid, config_.memory_encoder_output_channels, options);
}

}  // namespace sam3rt::models
