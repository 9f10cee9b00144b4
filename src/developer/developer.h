// The developer commands' one door into the library (`sam3rt verify`,
// `make-random-checkpoint`, `precision-gate`, `info`): what they need that the public API
// (include/sam3rt/) does not offer users. Self-contained: it includes public headers
// only, so tools/ compiles with include/ and this folder on its path, not src/.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sam3rt::developer {

// --- sam3rt verify: parity against reference dumps (src/pipeline/verify.*) -----------
//
// A fixture folder is one refgen output (tests/data/README.md): an index.json naming the
// model, reference_inputs/outputs/intermediates .safetensors and a checkpoint; or a
// tokenizer case file (clip_tokenizer_cases.json). verify_fixture() runs every case
// sam3rt supports and compares each produced tensor with the reference by the
// reference's own name (e.g. "c1_text_boxes.pred_masks").

struct TensorComparison {
  std::string name;       // "<case>.<tensor>" as the fixture names it
  double max_abs = 0.0;   // max |ours - ref|
  double rel_l2 = 0.0;    // ||ours - ref|| / ||ref|| (||ours - ref|| when ref is all zero)
  double tolerance = 0.0; // rel_l2 bound this tensor is held to
  double max_abs_tolerance = -1.0;  // when >= 0, a max_abs bound instead of rel_l2
  double abs_floor = 0.0;  // when > 0, max_abs <= abs_floor also passes (tensors near zero, bf16)
  bool has_nan = false;   // NaN or Inf in ours
  bool shape_ok = true;
  bool ok() const {
    if (!shape_ok || has_nan) return false;
    if (abs_floor > 0 && max_abs <= abs_floor) return true;
    return max_abs_tolerance >= 0 ? max_abs <= max_abs_tolerance : rel_l2 <= tolerance;
  }
};

struct VerifyOptions {
  double tolerance = 1e-4;         // rel-L2 per tensor (fp32)
  // A tensor whose largest difference is at most this passes whatever its rel-L2 (0: off).
  // For bf16, where a tensor near zero (an object-score logit of 0.003) has a large
  // relative error from an absolute one far below what changes a result.
  double abs_floor = 0.0;
  std::string precision = "fp32";  // matrix products in fp32 or bf16
  std::string device = "cpu";      // "cpu", "cuda", "cuda:N": where the model is bound and run
  std::string bpe_vocab_path;      // CLIP merges file for tokenizer fixtures
  std::function<void(const TensorComparison&)> on_result;  // called as each tensor is compared
  std::function<void(const std::string&)> on_note;         // called as each note is made
};

struct VerifyReport {
  std::vector<TensorComparison> results;
  std::vector<std::string> skipped;  // cases or tensors sam3rt does not run yet, with a reason
  // Discrete decisions verify aligned with the reference's, each said: a memory mask
  // pixel whose logit rounding put on the other side of the threshold (tracker video).
  std::vector<std::string> notes;
  size_t passed() const;
  double worst_rel_l2() const;
  bool ok() const { return !results.empty() && passed() == results.size(); }
};

// Runs the fixture in `dir`. Throws Error(kNotFound) if `dir` is not a fixture folder,
// Error(kCorruption) if its files are malformed.
VerifyReport verify_fixture(const std::string& dir, const VerifyOptions& options);

// --- sam3rt make-random-checkpoint (src/pipeline/random_checkpoint.*) ---------------

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

// --- sam3rt info (src/developer/model_report.cpp) -----------------------------------

struct ModelReport {
  std::string text;                 // the description, lines ending in '\n'
  std::vector<std::string> problems;  // key problems (missing, unexpected, mis-shaped)
  std::string weights_path;
};

// Reads a model folder's config.json and model.safetensors and describes them: model
// type, sizes, tensors by dtype, and whether every key matches the config. Throws
// Error(kNotFound) for a missing folder or file, Error(kCorruption) for malformed ones.
ModelReport describe_model(const std::string& dir);

// --- sam3rt precision-gate (src/developer/precision_gate.cpp) -----------------------

struct GateOptions {
  std::string model, device = "cpu", reference_device;
  std::vector<std::string> images, texts;
  double min_mean_iou = 0.99, min_iou = 0.98, max_score_diff = 0.01, score_threshold = 0.0;
  int clicks = 3;  // per side of the click grid
  int threads = 0;
};

// Running figures of one comparison (one pair of runs, detector or tracker part).
struct GateTally {
  std::string comparison;  // e.g. "bf16 vs fp32 on cuda"
  std::string part;        // "detector" or "tracker"
  int64_t masks = 0, at_least_099 = 0, empty_both = 0;
  double iou_sum = 0, worst_iou = 1, worst_score_diff = 0;
  std::string worst_where;
  double mean_iou() const { return masks ? iou_sum / static_cast<double>(masks) : 0.0; }
  bool ok(const GateOptions& o) const {
    return masks > 0 && mean_iou() >= o.min_mean_iou && worst_iou >= o.min_iou && worst_score_diff <= o.max_score_diff;
  }
};

// Runs each image through two loaded copies of the model and compares them query by
// query: bf16 against fp32 on options.device, and, with a reference_device, fp32 on
// device against fp32 there. Detector: every query of each text (masks at the image's
// size, logits > 0; scores sigmoid(logit) * sigmoid(presence)); tracker: a grid of
// single clicks, three candidates each (masks, predicted IoU, object score). Tallies
// with no masks are left out. on_image is called after each image.
std::vector<GateTally> run_precision_gate(const GateOptions& options,
                                          const std::function<void(const std::string&)>& on_image = {});

// --- shared ----------------------------------------------------------------------------

// Where the bundled CLIP vocabulary is: explicit_path if set, else next to the installed
// or built executable. Empty if nowhere.
std::string find_bpe_vocab(const std::string& explicit_path);

}  // namespace sam3rt::developer
