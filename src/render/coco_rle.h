// COCO run-length encoding of binary masks, in the standard {"size": [h, w], "counts":
// "<string>"} form that pycocotools writes: runs are counted in column-major (Fortran)
// order starting with a run of zeros, then compressed to a string with 5 bits per
// character (offset 48) and each count after the second stored as the difference to the
// count two places before it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sam3rt/render.h"

namespace sam3rt::render {

// CocoRle, encode_coco_rle and decode_coco_rle are the public ones (sam3rt/render.h).
using ::sam3rt::CocoRle;
using ::sam3rt::decode_coco_rle;
using ::sam3rt::encode_coco_rle;

// Run lengths of a [H, W] bool/uint8 mask in column-major order, zeros first.
std::vector<uint32_t> rle_runs(const at::Tensor& mask);
// The compressed counts string of a run list.
std::string rle_runs_to_string(const std::vector<uint32_t>& runs);
// Inverse of rle_runs_to_string. Throws Error(kCorruption) on a malformed string.
std::vector<uint32_t> rle_string_to_runs(const std::string& counts);

}  // namespace sam3rt::render
