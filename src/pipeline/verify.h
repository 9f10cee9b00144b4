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

namespace sam3rt::models {
struct Sam3Modules;
}  // namespace sam3rt::models

namespace sam3rt::pipeline {

struct TensorComparison {
  std::string name;       // "<case>.<tensor>" as the fixture names it
  double max_abs = 0.0;   // max |ours - ref|
  double rel_l2 = 0.0;    // ||ours - ref|| / ||ref|| (||ours - ref|| when ref is all zero)
  double tolerance = 0.0; // rel_l2 bound this tensor is held to
  double max_abs_tolerance = -1.0;  // when >= 0, a max_abs bound instead of rel_l2
  bool has_nan = false;   // NaN or Inf in ours
  bool shape_ok = true;
  bool ok() const {
    return shape_ok && !has_nan && (max_abs_tolerance >= 0 ? max_abs <= max_abs_tolerance : rel_l2 <= tolerance);
  }
};

// Compares `ours` with `ref` (any float/int dtype; compared in float64).
TensorComparison compare_tensors(const std::string& name, const at::Tensor& ours, const at::Tensor& ref,
                                 double tolerance);

struct VerifyOptions {
  double tolerance = 1e-4;       // rel-L2 per tensor (fp32)
  std::string precision = "fp32";  // matrix products in fp32 or bf16 (io::Placement)
  std::string device = "cpu";      // "cpu", "cuda", "cuda:N": where the model is bound and run
  std::string bpe_vocab_path;    // CLIP merges file for tokenizer fixtures
  std::function<void(const TensorComparison&)> on_result;  // called as each tensor is compared
};

struct VerifyReport {
  std::vector<TensorComparison> results;
  std::vector<std::string> skipped;  // cases or tensors sam3rt does not run yet, with a reason
  size_t passed() const;
  double worst_rel_l2() const;
  bool ok() const { return !results.empty() && passed() == results.size(); }
};

// The modules of a fixture's checkpoint folder (config.json + model.safetensors), on
// `device` with `precision` ("fp32" / "bf16") products; on CUDA with TF32 off, so that
// float32 is float32. Throws Error(kCorruption) listing every key problem.
std::unique_ptr<models::Sam3Modules> bind_fixture_model(const std::string& folder, const std::string& precision,
                                                        const std::string& device = "cpu");

// Runs the fixture in `dir`. Throws Error(kNotFound) if `dir` is not a fixture folder,
// Error(kCorruption) if its files are malformed.
VerifyReport verify_fixture(const std::string& dir, const VerifyOptions& options);

}  // namespace sam3rt::pipeline
