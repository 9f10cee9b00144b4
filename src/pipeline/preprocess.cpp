#include "pipeline/preprocess.h"

#include <ATen/ops/_upsample_bilinear2d_aa.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>

#include <string>
#include <vector>

#include "sam3rt/error.h"

namespace sam3rt::pipeline {
namespace {

void check_rgb_hwc_uint8(const at::Tensor& image, const std::string& what) {
  SAM3RT_CHECK(image.defined(), kInvalidArgument, what, ": undefined tensor");
  SAM3RT_CHECK(image.scalar_type() == at::kByte, kInvalidArgument, what,
               ": expected a uint8 RGB image, got dtype ", image.scalar_type());
  SAM3RT_CHECK(image.dim() == 3 && image.size(2) == 3, kInvalidArgument, what,
               ": expected shape [H, W, 3], got ", image.sizes());
  SAM3RT_CHECK(image.size(0) > 0 && image.size(1) > 0, kInvalidArgument, what,
               ": empty image ", image.sizes());
}

// The fused rescale + normalise constants, [3, 1, 1] float32: HF multiplies the float32
// mean/std tensors by 1 / rescale_factor (a float32 multiply by 255), so do the same.
std::pair<at::Tensor, at::Tensor> normalisation_tensors(const std::array<double, 3>& mean,
                                                        const std::array<double, 3>& stddev,
                                                        const at::Device& device) {
  const float inverse_rescale = static_cast<float>(1.0 / (1.0 / 255.0));
  at::Tensor mean_t = at::empty({3, 1, 1}, at::kFloat);
  at::Tensor std_t = at::empty({3, 1, 1}, at::kFloat);
  float* m = mean_t.data_ptr<float>();
  float* s = std_t.data_ptr<float>();
  for (int c = 0; c < 3; ++c) {
    SAM3RT_CHECK(stddev[c] != 0.0, kInvalidArgument, "preprocess: std[", c, "] is 0");
    m[c] = static_cast<float>(mean[c]) * inverse_rescale;
    s[c] = static_cast<float>(stddev[c]) * inverse_rescale;
  }
  return {mean_t.to(device), std_t.to(device)};
}

// uint8 [N, C, H, W] -> float32 [N, C, height, width] holding whole numbers in [0, 255]
// (the uint8 result torchvision would produce, kept in float).
// One channel at a time: a float copy of a whole 40-megapixel photo is 480 MB, of one of
// its channels 160 MB (the server runs several at once; docs/server.md). The filter does
// not mix channels, so the result is the same.
at::Tensor resize_to_rounded_float(const at::Tensor& nchw_uint8, int64_t height, int64_t width) {
  std::vector<at::Tensor> channels;
  channels.reserve(static_cast<size_t>(nchw_uint8.size(1)));
  for (int64_t c = 0; c < nchw_uint8.size(1); ++c) {
    at::Tensor x = nchw_uint8.narrow(1, c, 1).contiguous().to(at::kFloat);  // [N, 1, H, W]
    x = at::_upsample_bilinear2d_aa(x, {height, width}, /*align_corners=*/false, c10::nullopt,
                                    c10::nullopt);  // [N, 1, height, width]
    channels.push_back(x.round().clamp(0.0, 255.0));
  }
  return at::cat(channels, 1);  // [N, C, height, width]
}

// One checked image to [1, 3, size, size] float32, normalised.
at::Tensor preprocess_checked(const at::Tensor& rgb_hwc_uint8, int64_t size,
                              const at::Tensor& mean_t, const at::Tensor& std_t) {
  at::Tensor nchw = rgb_hwc_uint8.permute({2, 0, 1}).unsqueeze(0);  // [1, 3, H, W]
  at::Tensor x = resize_to_rounded_float(nchw, size, size);        // [1, 3, size, size]
  return x.sub(mean_t).div(std_t);
}

}  // namespace

at::Tensor resize_bilinear_antialiased_uint8(const at::Tensor& image_uint8, int64_t height,
                                             int64_t width) {
  SAM3RT_CHECK(image_uint8.defined(), kInvalidArgument, "resize: undefined tensor");
  SAM3RT_CHECK(image_uint8.scalar_type() == at::kByte, kInvalidArgument,
               "resize: expected uint8, got ", image_uint8.scalar_type());
  SAM3RT_CHECK(image_uint8.dim() == 3 || image_uint8.dim() == 4, kInvalidArgument,
               "resize: expected [C, H, W] or [N, C, H, W], got ", image_uint8.sizes());
  SAM3RT_CHECK(image_uint8.numel() > 0, kInvalidArgument, "resize: empty input ",
               image_uint8.sizes());
  SAM3RT_CHECK(height > 0 && width > 0, kInvalidArgument, "resize: bad target size ", height,
               "x", width);
  const bool batched = image_uint8.dim() == 4;
  at::Tensor nchw = batched ? image_uint8 : image_uint8.unsqueeze(0);
  at::Tensor out = resize_to_rounded_float(nchw, height, width).to(at::kByte);
  return batched ? out : out.squeeze(0);
}

at::Tensor preprocess_image(const at::Tensor& rgb_hwc_uint8, int64_t size,
                            const std::array<double, 3>& mean,
                            const std::array<double, 3>& stddev) {
  check_rgb_hwc_uint8(rgb_hwc_uint8, "preprocess_image");
  SAM3RT_CHECK(size > 0, kInvalidArgument, "preprocess_image: bad size ", size);
  auto [mean_t, std_t] = normalisation_tensors(mean, stddev, rgb_hwc_uint8.device());
  return preprocess_checked(rgb_hwc_uint8, size, mean_t, std_t);
}

at::Tensor preprocess_batch(const std::vector<at::Tensor>& rgb_hwc_uint8_images, int64_t size,
                            const std::array<double, 3>& mean,
                            const std::array<double, 3>& stddev) {
  SAM3RT_CHECK(!rgb_hwc_uint8_images.empty(), kInvalidArgument,
               "preprocess_batch: no images");
  SAM3RT_CHECK(size > 0, kInvalidArgument, "preprocess_batch: bad size ", size);
  const at::Device device = rgb_hwc_uint8_images.front().defined()
                                ? rgb_hwc_uint8_images.front().device()
                                : at::Device(at::kCPU);
  for (size_t i = 0; i < rgb_hwc_uint8_images.size(); ++i) {
    const std::string what = "preprocess_batch: image " + std::to_string(i);
    check_rgb_hwc_uint8(rgb_hwc_uint8_images[i], what);
    SAM3RT_CHECK(rgb_hwc_uint8_images[i].device() == device, kInvalidArgument, what, " is on ",
                 rgb_hwc_uint8_images[i].device(), ", image 0 on ", device);
  }
  auto [mean_t, std_t] = normalisation_tensors(mean, stddev, device);
  std::vector<at::Tensor> outputs;
  outputs.reserve(rgb_hwc_uint8_images.size());
  for (const at::Tensor& image : rgb_hwc_uint8_images) {
    outputs.push_back(preprocess_checked(image, size, mean_t, std_t));
  }
  return at::cat(outputs, 0);  // [B, 3, size, size]
}

}  // namespace sam3rt::pipeline
