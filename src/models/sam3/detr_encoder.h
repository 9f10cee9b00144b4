// DETR encoder: fuses the image tokens with the prompt (architecture §6; transformers
// Sam3DetrEncoder). Pre-norm layers: self-attention over the image tokens (with position
// on q and k), cross-attention to the prompt tokens, FFN.
//
// Weight prefix: detector_model.detr_encoder.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "models/sam3/geometry_encoder.h"

namespace sam3rt::models {

class DetrEncoder {
 public:
  DetrEncoder(const DetectorTransformerConfig& config, const io::WeightScope& s);

  // image [B, HW, d] tokens, pos [B or 1, HW, d], prompt [B, P, d] with prompt_valid
  // [B, P] bool -> memory [B, HW, d].
  at::Tensor forward(const at::Tensor& image, const at::Tensor& pos, const at::Tensor& prompt,
                     const at::Tensor& prompt_valid) const;

 private:
  DetectorTransformerConfig config_;
  std::vector<PreNormFusionLayer> layers_;
};

}  // namespace sam3rt::models
