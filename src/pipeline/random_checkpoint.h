// Random-weight checkpoints with the real key names and shapes, for any config: what
// benchmarks and the demo use where real weights are not available.
#pragma once

#include <cstdint>
#include <string>

#include "developer/developer.h"

namespace sam3rt::pipeline {

// Declared for the developer commands (developer/developer.h).
using developer::make_random_checkpoint;
using developer::RandomCheckpointOptions;

}  // namespace sam3rt::pipeline
