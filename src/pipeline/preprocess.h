// Image preprocessing: an RGB uint8 image to the model's pixel_values.
//
// The chain is the reference one (Sam3ImageProcessorFast / the original sam3 transforms,
// docs: sam3-architecture.md §1):
//   1. HWC uint8 -> CHW, converted to float32;
//   2. resized straight to size x size (aspect ratio not kept, no padding) with the
//      antialiased bilinear filter, align_corners = false (at::_upsample_bilinear2d_aa,
//      what torchvision's resize(uint8 tensor, antialias=True) calls);
//   3. rounded and clamped to [0, 255], as torchvision does when it casts back to uint8;
//   4. rescaled by 1/255 and normalised by mean/std, fused as HF does:
//      (x - mean * 255) / (std * 255) in float32, with mean * 255 and std * 255 formed in
//      float32 (for SAM 3's 0.5/0.5: (x - 127.5) / 127.5).
// The result equals the reference pixel_values bit for bit on LibTorch 1.13 (see
// tests/pipeline/preprocess_test.cpp).
//
// Thread-safety: plain functions, no state.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

namespace sam3rt::pipeline {

// SAM 3's normalisation (config: image_mean / image_std of the processor).
inline constexpr std::array<double, 3> kSam3ImageMean{0.5, 0.5, 0.5};
inline constexpr std::array<double, 3> kSam3ImageStd{0.5, 0.5, 0.5};

// Resizes uint8 [C, H, W] or [N, C, H, W] to [.., C, height, width] with the antialiased
// bilinear filter (align_corners = false), rounding back to uint8 like torchvision's
// resize(uint8 tensor, antialias=True). Runs on the tensor's device.
// Throws Error(kInvalidArgument) for another dtype or rank, an empty input or a
// non-positive target size.
at::Tensor resize_bilinear_antialiased_uint8(const at::Tensor& image_uint8, int64_t height,
                                             int64_t width);

// rgb_hwc_uint8: uint8 [H, W, 3] (any strides, any device). Returns float32
// [1, 3, size, size] on the same device.
// Throws Error(kInvalidArgument) if the image is not uint8 [H, W, 3] with H, W > 0, if
// size <= 0, or if a std entry is 0.
at::Tensor preprocess_image(const at::Tensor& rgb_hwc_uint8, int64_t size,
                            const std::array<double, 3>& mean = kSam3ImageMean,
                            const std::array<double, 3>& stddev = kSam3ImageStd);

// Several images, each of its own size, to float32 [B, 3, size, size] (on the device of
// the first image; all must share it). Throws Error(kInvalidArgument) for an empty list
// or a bad image (naming its index).
at::Tensor preprocess_batch(const std::vector<at::Tensor>& rgb_hwc_uint8_images, int64_t size,
                            const std::array<double, 3>& mean = kSam3ImageMean,
                            const std::array<double, 3>& stddev = kSam3ImageStd);

}  // namespace sam3rt::pipeline
