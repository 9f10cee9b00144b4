// Parity checking against reference dumps: the engine behind `sam3rt verify`.
//
// A fixture folder is one refgen output (see tests/data/README.md): an index.json naming
// the model, reference_inputs/outputs/intermediates .safetensors and a checkpoint; or a
// tokenizer case file (clip_tokenizer_cases.json). verify_fixture() runs every case
// sam3rt supports, compares each produced tensor with the reference by the reference's
// own name (e.g. "c1_text_boxes.pred_masks") and reports max-abs error and relative L2
// error.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "developer/developer.h"

namespace sam3rt::models {
struct Modules;
}  // namespace sam3rt::models

namespace sam3rt::pipeline {

// The report types and verify_fixture are declared for the developer commands
// (developer/developer.h); the names stay here for the library's own use.
using developer::TensorComparison;
using developer::VerifyOptions;
using developer::VerifyReport;
using developer::verify_fixture;

// A JSON file (objects keep their order, e.g. a fixture's cases). Throws
// Error(kNotFound) when it cannot be opened, Error(kCorruption) when it is not JSON.
nlohmann::ordered_json read_json_file(const std::string& path);

// A fixture folder's index.json, checked to describe `model` and to have a "cases"
// object. Throws as read_json_file, and Error(kCorruption) naming what is wrong.
nlohmann::ordered_json read_fixture_index(const std::string& dir, const std::vector<std::string>& models);

// Compares `ours` with `ref` (any float/int dtype; compared in float64).
TensorComparison compare_tensors(const std::string& name, const at::Tensor& ours, const at::Tensor& ref,
                                 double tolerance);

// The modules of a fixture's checkpoint folder (config.json + model.safetensors), on
// `device` with `precision` ("fp32" / "bf16") products; on CUDA with TF32 off, so that
// float32 is float32. Throws Error(kCorruption) listing every key problem.
std::unique_ptr<models::Modules> bind_fixture_model(const std::string& folder, const std::string& precision,
                                                        const std::string& device = "cpu");

}  // namespace sam3rt::pipeline
