#include "models/tracker/memory_encoder.h"

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
  SAM3RT_FAIL(kUnsupported, "MemoryEncoder::forward is not implemented yet");
}

}  // namespace sam3rt::models
