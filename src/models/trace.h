// Intermediate tensors of a forward pass under the reference's module names
// ("vision_encoder.backbone.blocks.3", "detr_decoder.presence_logits", ...): what
// `sam3rt verify` compares against the fixtures. Filled only when a caller passes one.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace sam3rt::models {

using Trace = std::map<std::string, at::Tensor>;

inline void record(Trace* trace, const std::string& name, const at::Tensor& t) {
  if (trace != nullptr) (*trace)[name] = t;
}

}  // namespace sam3rt::models
