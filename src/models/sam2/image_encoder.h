// SAM 2's image encoder (transformers Sam2VisionModel): Hiera, then its FPN neck; the
// tracker's frame encoder for sam2 / sam2_video checkpoints.
//
// Weight prefix: vision_encoder (backbone.*, neck.*).
// Thread-safety: immutable; encode() may run concurrently.
#pragma once

#include "io/config.h"
#include "io/weights.h"
#include "models/sam2/fpn_neck.h"
#include "models/sam2/hiera.h"
#include "models/tracker/frame_encoder.h"

namespace sam3rt::models {

class Sam2ImageEncoder final : public FrameEncoder {
 public:
  Sam2ImageEncoder(const HieraVisionConfig& config, const io::WeightScope& s);

  // pixel_values [B, 3, S, S] -> [B, F, 4G, 4G], [B, F, 2G, 2G], [B, F, G, G].
  std::vector<at::Tensor> encode(const at::Tensor& pixel_values, Trace* trace = nullptr) const override;
  bool image_level_is_last() const override { return true; }

 private:
  Hiera hiera_;
  Sam2FpnNeck neck_;
};

}  // namespace sam3rt::models
