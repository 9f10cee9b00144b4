// Parsing where a model runs and at which precision, as users name them
// ("cpu" / "cuda" / "cuda:1"; "fp32" / "bf16").
#pragma once

#include <string>

#include "io/weights.h"

namespace sam3rt::pipeline {

// Throws Error(kInvalidArgument) naming an unknown device or precision, and
// Error(kUnsupported) for "cuda" when the LibTorch sam3rt was built with has no CUDA or
// sees no GPU.
io::Placement parse_placement(const std::string& device, const std::string& precision);

}  // namespace sam3rt::pipeline
