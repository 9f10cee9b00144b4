#include "models/sam3/detr_encoder.h"

#include "sam3rt/error.h"

namespace sam3rt::models {

DetrEncoder::DetrEncoder(const DetectorTransformerConfig& c, const io::WeightScope& s) : config_(c) {
  for (int64_t i = 0; i < c.num_layers; ++i) layers_.emplace_back(c, s.sub("layers", i));
}

at::Tensor DetrEncoder::forward(const at::Tensor& image, const at::Tensor& pos, const at::Tensor& prompt,
                                const at::Tensor& prompt_valid) const {
  SAM3RT_FAIL(kUnsupported, "DetrEncoder::forward is not implemented yet");
}

}  // namespace sam3rt::models
