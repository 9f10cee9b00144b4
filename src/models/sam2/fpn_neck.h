// SAM 2's FPN neck over the Hiera stages (transformers Sam2VisionNeck): a 1x1 lateral
// convolution per stage, coarse to fine; the levels named in fpn_top_down_levels (except
// the coarsest) add the coarser level upsampled x2 (nearest). The finest
// num_feature_levels levels are kept.
//
// Weight prefix: vision_encoder.neck (convs.<k>: k = 0 is the coarsest stage).
// Input: stage maps [B, h_s, w_s, C_s] (channels last, fine to coarse); output levels
// [B, F, h, w], fine to coarse (4G, 2G, G for the tracker).
// Thread-safety: immutable.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "models/trace.h"
#include "nn/layers.h"

namespace sam3rt::models {

class Sam2FpnNeck {
 public:
  Sam2FpnNeck(const HieraVisionConfig& config, const io::WeightScope& s);

  // Stage maps [B, h_s, w_s, C_s] (fine to coarse) -> the finest num_feature_levels levels
  // [B, F, h, w], fine to coarse. With `trace`: every level "vision_encoder.neck.0.<i>" and
  // its sine position ".1.<i>", in the reference's coarse-to-fine order.
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& stages, Trace* trace = nullptr) const;

 private:
  std::vector<nn::Conv2d> convs_;  // convs_[k] for stage S-1-k
  std::vector<int64_t> top_down_levels_;
  int64_t num_feature_levels_ = 3;
};

}  // namespace sam3rt::models
