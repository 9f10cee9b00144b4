// Random-weight checkpoints with the real key names and shapes, for any config: what
// benchmarks and the demo use where real weights are not available.
#pragma once

#include <cstdint>
#include <string>

namespace sam3rt::pipeline {

struct RandomCheckpointOptions {
  uint64_t seed = 0;
  // Store floating tensors as F16 to halve the file (they load back as F32).
  bool half = false;
};

// Writes out_dir/config.json (a copy of config_path) and out_dir/model.safetensors with
// every tensor the config's modules declare. Values are scaled by fan-in so activations
// stay of order 1: tensors of 2+ dims ~ N(0, 1/sqrt(fan_in)), token/position tables
// ~ N(0, 0.2), LayerNorm/GroupNorm gains ~ 1 + N(0, 0.1), biases ~ N(0, 0.02), the
// Fourier matrices of the prompt encoder ~ N(0, 1).
// Throws Error(kIo) if out_dir cannot be written, config errors as load_model_config.
void make_random_checkpoint(const std::string& config_path, const std::string& out_dir,
                            const RandomCheckpointOptions& options);

}  // namespace sam3rt::pipeline
