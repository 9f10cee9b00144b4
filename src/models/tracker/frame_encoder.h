// The image encoder under the tracker: pixels -> the three feature levels the prompt
// encoder, mask decoder and memory encoder read. Each model family brings its own
// (SAM 3: the ViT + the tracker's FPN neck, models/sam3/tracker_image_encoder.h; SAM 2:
// Hiera + its FPN neck, models/sam2/image_encoder.h); the tracker sees only this.
// Thread-safety: implementations are immutable after binding; safe to share.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "models/trace.h"

namespace sam3rt::models {

class FrameEncoder {
 public:
  virtual ~FrameEncoder() = default;

  // pixel_values [B, 3, S, S] (preprocessed, S = the tracker's image_size) -> levels
  // [B, d, 4G, 4G], [B, d, 2G, 2G], [B, d, G, G] (d = the tracker width). With `trace`,
  // the encoder's intermediate results are stored under the checkpoint's module names.
  virtual std::vector<at::Tensor> encode(const at::Tensor& pixel_values, Trace* trace = nullptr) const = 0;

  // Whether level G is the last level the encoder's neck makes. transformers adds
  // no_memory_embedding to the neck's last level on single images: level G for SAM 2, a
  // dropped 0.5x level for SAM 3 (see TrackerImageOptions).
  virtual bool image_level_is_last() const = 0;
};

}  // namespace sam3rt::models
