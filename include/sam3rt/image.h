// Images in and out: decoding JPEG and PNG files or bytes to RGB tensors, PNG encoding,
// and the overlay `sam3rt segment` and the server draw.
//
// Decoding: the result is RGB uint8 [H, W, 3], contiguous, on the CPU. A JPEG's EXIF
// orientation is applied (the tensor is the image as it is meant to be shown); PNG
// palettes are expanded, alpha dropped, gray replicated, 16-bit samples reduced to their
// high byte. Truncated files are errors, not partly grey images. PNG and JPEG only, in
// every build: their headers give the size before any pixel memory is allocated.
// Errors (sam3rt::Error), each naming the file: kNotFound (no such file), kIo (cannot
// be read or written), kCorruption (not a PNG or JPEG, truncated, bad CRC, zero size, a
// decoded size other than the header's),
// kUnsupported (more than kMaxImagePixels pixels).
//
// Thread-safety: plain functions, no shared state.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sam3rt/types.h"

namespace sam3rt {

// The largest image decoded (width * height).
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 30;

// The image file at `path` as RGB uint8 [H, W, 3].
at::Tensor decode_image(const std::string& path);

// An encoded image held in memory; `name` names it in error messages. `max_pixels`
// lowers the limit (at most kMaxImagePixels): a PNG or JPEG whose header (any frame
// header the decoder could read) declares more is Error(kUnsupported) before any pixel
// memory is allocated.
at::Tensor decode_image(const uint8_t* data, size_t size, const std::string& name = "image",
                        int64_t max_pixels = kMaxImagePixels);

// A binary mask (an object prompt) from an image file or its bytes: pixels whose first
// channel is above 127 are the object. [height, width] bool. Decoding errors as above; a
// file of another size is Error(kInvalidArgument) giving both sizes.
at::Tensor decode_mask(const std::string& path, int64_t width, int64_t height);
at::Tensor decode_mask(const uint8_t* data, size_t size, int64_t width, int64_t height,
                       const std::string& name = "mask");

// (width, height) from a PNG (IHDR) or JPEG (SOFn) header without decoding, as stored
// (before any EXIF rotation), or nullopt for other or unreadable data: to refuse huge
// images before decoding them. decode_image reads the same header and refuses a file
// that decodes to another size.
std::optional<std::pair<int64_t, int64_t>> probe_image_size(const uint8_t* data, size_t size);

// PNG bytes of a uint8 image: [H, W, 3] RGB, [H, W, 4] RGBA or [H, W] gray (any strides,
// any device). Throws Error(kInvalidArgument) for another dtype or shape or an empty image.
std::vector<uint8_t> encode_png(const at::Tensor& image);

// encode_png written to `path`. Throws Error(kIo) naming the path if it cannot be written.
void write_png(const std::string& path, const at::Tensor& image);

// The colour of instance i in overlays (a fixed palette, repeating).
std::array<uint8_t, 3> instance_color(size_t i);

// rgb [H, W, 3] uint8 with each instance's mask blended in its colour (instance i gets
// instance_color(i)) and its box outlined: a new [H, W, 3] uint8 tensor.
at::Tensor draw_overlay(const at::Tensor& rgb, const std::vector<Instance>& instances, float alpha = 0.5f);

}  // namespace sam3rt
