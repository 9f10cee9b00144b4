// libFuzzer target: any bytes as an image file, through decode_image and decode_mask as
// the CLI, the library and the server call them: PNG (palette, gray, 16-bit, alpha, CRCs)
// and JPEG (baseline, progressive, EXIF orientation), through stb or OpenCV's readers
// (fuzz.sh builds this file twice: image, image_opencv).
// An input is accepted or refused with sam3rt::Error. An accepted image must be RGB uint8
// [H, W, 3], contiguous, non-empty, and of the size probe_image_size read from its header
// (transposed by an EXIF rotation): the server refuses huge uploads by that probe before
// decoding, so a decode larger than its probe would be a way around the limit. The image
// must be within the pixel limit given. The mask decoded from the same bytes must be
// [H, W] bool with first channel > 127: the same pixels, decoded twice.
#include <ATen/core/Tensor.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/gt.h>

#include <cstddef>
#include <cstdint>

#include "sam3rt/error.h"
#include "sam3rt/image.h"

namespace {
// The pixel limit passed to decode_image, as the server passes its own: a 740-byte JPEG may
// declare millions of pixels of blank blocks (16 M take 11 s to decode under ASan), so the
// fuzzer runs with a small one. fuzz.sh also caps any single allocation at 512 MB: a
// decoder allocating more than the limit allows is a finding.
constexpr int64_t kFuzzMaxPixels = int64_t{1} << 20;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto probed = sam3rt::probe_image_size(data, size);
  try {
    const at::Tensor rgb = sam3rt::decode_image(data, size, "fuzz input", kFuzzMaxPixels);
    if (rgb.dim() != 3 || rgb.size(2) != 3 || rgb.scalar_type() != at::kByte || !rgb.is_contiguous()) __builtin_trap();
    const int64_t h = rgb.size(0), w = rgb.size(1);
    if (h <= 0 || w <= 0 || h * w > kFuzzMaxPixels) __builtin_trap();
    if (probed) {
      const bool same = probed->first == w && probed->second == h;
      const bool rotated = probed->first == h && probed->second == w;
      if (!same && !rotated) __builtin_trap();
    }
    const at::Tensor mask = sam3rt::decode_mask(data, size, w, h, "fuzz input");
    if (mask.dim() != 2 || mask.size(0) != h || mask.size(1) != w || mask.scalar_type() != at::kBool) __builtin_trap();
    if (!at::equal(mask, rgb.select(2, 0).gt(127))) __builtin_trap();
  } catch (const sam3rt::Error&) {
    // Refused: the expected outcome for malformed input.
  }
  return 0;
}
