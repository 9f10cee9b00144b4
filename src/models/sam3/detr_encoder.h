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

  // image [B, HW, d] tokens (one feature level, flattened row-major), pos [B or 1, HW, d]
  // its sine position encoding, prompt [B, P, d] (text tokens, then geometry tokens) with
  // prompt_valid [B, P] bool (true = attend; undefined = every token valid)
  // -> memory [B, HW, d]. The position and the prompt pass on to the decoder unchanged.
  // layer_outputs, when given, receives each layer's output [B, HW, d] (the last one is
  // the returned memory).
  at::Tensor forward(const at::Tensor& image, const at::Tensor& pos, const at::Tensor& prompt,
                     const at::Tensor& prompt_valid, std::vector<at::Tensor>* layer_outputs = nullptr) const;

 private:
  DetectorTransformerConfig config_;
  std::vector<PreNormFusionLayer> layers_;
};

}  // namespace sam3rt::models
