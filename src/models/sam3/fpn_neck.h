// Simple FPN neck over the single ViT output (architecture §3; transformers
// Sam3VisionNeck). The detector and the tracker each have one, with separate weights.
//
// Weight prefix: detector_model.vision_encoder.neck (detector), tracker_neck (sam3_video),
//                tracker_model.tracker_neck (sam3_tracker).
// Input [B, D, G, G]; output one [B, F, h, w] map per scale factor (4, 2, 1, 0.5 -> 4G,
// 2G, G, G/2). Consumers use the first three levels; the 0.5 level's weights exist in
// every checkpoint, so they are bound, but forward() does not compute it.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "nn/layers.h"

namespace sam3rt::models {

struct FpnLevel {
  double scale = 1.0;
  std::vector<nn::ConvTranspose2d> upsample;  // scale_layers.0 (and .2 for x4)
  nn::Conv2d proj1, proj2;
};

class FpnNeck {
 public:
  FpnNeck(const VisionConfig& config, const io::WeightScope& s);

  // vit [B, D, G, G] -> levels [B, F, 4G, 4G], [B, F, 2G, 2G], [B, F, G, G] (the levels
  // whose scale is >= 1, in config order); with all_levels also the unused 0.5 level.
  std::vector<at::Tensor> forward(const at::Tensor& vit, bool all_levels = false) const;

 private:
  std::vector<FpnLevel> levels_;
};

}  // namespace sam3rt::models
