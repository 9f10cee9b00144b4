// Results as files and text: the one JSON writer of image answers (what `sam3rt segment`
// writes as result.json and the server answers), video frames' tracks.json entries, and
// COCO run-length encoded masks.
//
// Image answer JSON (keys in this order):
//   {"mode": "concept" | "object", "model": "sam3_video",
//    "image": {"width": W, "height": H},
//    "prompt": {...}                     object mode: points [{x, y, positive}], box
//                                        [x1, y1, x2, y2], mask_input (its name, or
//                                        true), multimask
//    "instances": [{"id": 0, "prompt": "shoe", "score": 0.91, "presence": 0.97,
//                   "box": [x1, y1, x2, y2], "area": 1234,
//                   "mask": {"size": [H, W], "counts": "..."},   COCO RLE
//                   "mask_png": "<base64>"}],                     with JsonOptions::mask_png
//    object mode instances have "iou", "object_score", "candidate" (decoder slot) and
//    "best" in place of "score" and "presence";
//    "overlay_png": "<base64>",          with JsonOptions::overlay
//    "image_id": "...",                  with JsonOptions::image_id
//    "note": "...",                      for random-weight checkpoints
//    "timings_ms": {"stage": ms, ...}}   with JsonOptions::timings
// Boxes are pixel corners of the original image; masks are at its resolution.
//
// Thread-safety: plain functions.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "sam3rt/types.h"
#include "sam3rt/video.h"

namespace sam3rt {

// COCO run-length encoding ({"size": [h, w], "counts": "..."}, as pycocotools writes it):
// runs in column-major order, zeros first, compressed to a string.
struct CocoRle {
  int64_t height = 0;
  int64_t width = 0;
  std::string counts;
};
// mask: [H, W] bool or uint8 (non-zero = set).
CocoRle encode_coco_rle(const at::Tensor& mask);
// [H, W] bool. Throws Error(kCorruption) when the runs do not cover exactly H x W pixels.
at::Tensor decode_coco_rle(const CocoRle& rle);

struct JsonOptions {
  bool timings = true;    // "timings_ms" (they differ run to run; false for comparable output)
  bool mask_png = false;  // every instance's mask as a base64 PNG too ("mask_png")
  bool overlay = false;   // the drawn overlay as a base64 PNG ("overlay_png")
  std::string image_id;   // "image_id", when not empty (the server's image handle)
  int indent = 2;         // spaces per level; -1 = one line
};

// The JSON text of an answer (see above), ending in a newline when indented.
std::string answer_json(const ImageAnswer& answer, const JsonOptions& options = {});

// One video frame's tracks.json entry, on one line:
//   {"frame": 3, "objects": [{"id": 1, "present": true, "score": 0.97,
//     "box": [x1, y1, x2, y2], "area": 1234, "mask": {"size": [h, w], "counts": "..."}}]}
std::string track_frame_json(const TrackFrame& frame);

// Standard base64 (RFC 4648, padded).
std::string base64_encode(const uint8_t* data, size_t size);

}  // namespace sam3rt
