// The model flags that `segment`, `track` and `serve` share, turned into ModelOptions in
// one place.
#pragma once

#include <string>

#include "sam3rt/model.h"
#include "sam3rt/options.h"

namespace CLI {
class App;
}

namespace sam3rt::cli {

// Adds --model (required), --threads, --device, --precision, --cpu-gemm,
// --no-fused-attention and --hf-text-only to `cmd`, writing into `options` when parsed.
// `hf_text_only_help` words --hf-text-only for the command.
void add_model_flags(CLI::App* cmd, ModelOptions& options, const std::string& hf_text_only_help);

// The one line printed when a model has random weights (its masks mean nothing).
void note_random_weights(const std::string& model_dir);
// One line on stderr naming the compute path (Model::compute_path) when the user asked
// for a precision other than fp32: which bf16 kernels run, or that this CPU fell back.
void note_compute_path(const Model& model);

}  // namespace sam3rt::cli
