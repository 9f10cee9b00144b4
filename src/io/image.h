// Image files as ATen tensors: decoding JPEG/PNG to RGB uint8 and encoding PNG.
//
// Two backends give the same results for PNG and the same geometry for JPEG: OpenCV's
// imgcodecs when the build has it (SAM3RT_HAVE_OPENCV), else stb_image/stb_image_write.
// JPEG pixels may differ by a few levels between the two (different IDCT and chroma
// upsampling); PNG pixels are identical.
//
// Decoding rules (both backends):
//   - the result is RGB uint8 [H, W, 3], contiguous, on the CPU;
//   - JPEG: baseline and progressive; the EXIF orientation tag (APP1, IFD0 0x0112) is
//     applied, so the tensor is the image as it is meant to be shown;
//   - PNG: palette entries are expanded, alpha is dropped (not composited: the RGB stored
//     under a transparent pixel is returned), grayscale is replicated to R = G = B, and
//     16-bit samples become 8-bit by keeping the high byte (v >> 8), which is what
//     OpenCV's IMREAD_COLOR (libpng's strip_16) and stb_image both do;
//   - other formats are refused in both builds: OpenCV's other readers (BMP, TIFF, ...)
//     allocate whatever their header asks before any limit applies, stb's are not
//     memory-safe.
// Before decoding, PNG and JPEG files are checked for structure so that a truncated file
// is an error rather than a partly grey image: a PNG must reach its IEND chunk with the
// CRC of every critical chunk right, a JPEG must reach its end-of-image marker with one
// frame header. The EXIF orientation is read here, not by the backend, and the decoded
// size must equal the header's.
//
// Errors (sam3rt::Error), each naming the file:
//   kNotFound    the file does not exist;
//   kIo          it cannot be read (a directory, no permission) or written;
//   kCorruption  empty, not an image, truncated, a bad CRC, zero width or height;
//   kUnsupported more than kMaxImagePixels pixels.
//
// Thread-safety: plain functions, no shared state; safe to call concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sam3rt/image.h"

namespace sam3rt::io {

// decode_image, encode_png, write_png and kMaxImagePixels are the public ones
// (sam3rt/image.h); the names below stay for the library's own use.
using ::sam3rt::decode_image;
using ::sam3rt::encode_png;
using ::sam3rt::kMaxImagePixels;
using ::sam3rt::write_png;

inline at::Tensor decode_image_bytes(const uint8_t* data, size_t size, const std::string& name) {
  return ::sam3rt::decode_image(data, size, name, kMaxImagePixels);
}

// EXIF orientation (1..8) of a JPEG, 1 when the data is not a JPEG or has no valid tag.
int jpeg_exif_orientation(const uint8_t* data, size_t size);

// Applies an EXIF orientation (1..8; anything else is 1) to an [H, W, C] image, returning
// a contiguous tensor: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise,
// 7 transverse, 8 rotate 90 counter-clockwise.
at::Tensor apply_exif_orientation(const at::Tensor& image_hwc, int orientation);

}  // namespace sam3rt::io
