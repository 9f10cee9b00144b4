// Test helpers: reading refgen fixture folders, binding their checkpoints, and comparing
// tensors against them.
#pragma once

#include <ATen/core/Tensor.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace sam3rt {
struct ModelConfig;
namespace models {
struct Modules;
}  // namespace models
}  // namespace sam3rt

namespace sam3rt::testing {

// fp32 parity bound per tensor (DEVELOPERS.md): relative L2 error.
constexpr double kParityRelL2 = 1e-4;

// Absolute path of a file under tests/data.
std::string data_path(const std::string& relative);

// One refgen model folder, e.g. Fixture("sam3-tiny-seed0/sam3_image").
class Fixture {
 public:
  explicit Fixture(const std::string& relative_dir);

  const std::string& dir() const { return dir_; }
  // Inputs resolve index.json's input_aliases ("<case>.pixel_values" stored once).
  at::Tensor input(const std::string& name) const;
  at::Tensor output(const std::string& name) const;
  at::Tensor intermediate(const std::string& name) const;
  bool has_intermediate(const std::string& name) const;
  std::string config_path() const { return dir_ + "/config.json"; }
  std::string checkpoint_path() const { return dir_ + "/model.safetensors"; }

 private:
  std::string dir_;
  std::shared_ptr<const io::SafetensorsFile> inputs_, outputs_, intermediates_;
  std::map<std::string, std::string> aliases_;
};

// rel-L2 of ours against ref (float64), and max abs error.
double rel_l2(const at::Tensor& ours, const at::Tensor& ref);
double max_abs(const at::Tensor& ours, const at::Tensor& ref);

// A model folder's checkpoint bound to sam3rt's modules.
struct BoundModel {
  BoundModel();
  BoundModel(BoundModel&&) noexcept;
  BoundModel& operator=(BoundModel&&) noexcept;
  ~BoundModel();

  std::shared_ptr<const io::SafetensorsFile> checkpoint;  // the raw tensors, by checkpoint name
  std::unique_ptr<models::Modules> modules;           // zero-copy views that keep the file mapped
};

// Opens <dir>/model.safetensors, binds every module of <dir>/config.json's layout (or of
// `config`, e.g. one with a changed option) and finishes the load: throws
// Error(kCorruption) listing every missing, mis-shaped or unclaimed tensor. `dir` is a
// path, e.g. Fixture::dir() or data_path("sam3-tiny-seed0/sam3_video").
BoundModel bind_model(const std::string& dir);

// The elements of an integer tensor, in order.
std::vector<int64_t> to_vector(const at::Tensor& t);
BoundModel bind_model(const std::string& dir, const ModelConfig& config);

// Compares tensors with their references and remembers the worst rel-L2, printed when it
// goes out of scope:
//   [ rel-L2   ] <name>                                  worst 3.1e-07 over 12 tensors
// group(kind) is a recorder of its own, "<name> <kind>", for a separate worst per kind of
// tensor; it is printed after its parent.
//
//   WorstRelL2 w("tv0_points_box");
//   w.check(ours, fx.intermediate(name), name);                         // fp32 parity bound
//   w.group("pred_masks").check_values(masks, ref, what, kFrameRelL2);  // ref's layout
class WorstRelL2 {
 public:
  explicit WorstRelL2(std::string name);
  ~WorstRelL2();
  WorstRelL2(const WorstRelL2&) = delete;
  WorstRelL2& operator=(const WorstRelL2&) = delete;

  // Expects `ours` to have `ref`'s shape and to be within `tol` (SAM3RT_EXPECT_CLOSE:
  // rel-L2 <= tol, no NaN or Inf), under a trace "<name>: <what>".
  void check(const at::Tensor& ours, const at::Tensor& ref, const std::string& what, double tol = kParityRelL2);
  // The same in `ref`'s layout: `ours` must be defined and have `ref`'s element count; it
  // is reshaped to `ref`'s shape and both are compared as float32 on the CPU.
  void check_values(const at::Tensor& ours, const at::Tensor& ref, const std::string& what,
                    double tol = kParityRelL2);
  WorstRelL2& group(const std::string& kind);

 private:
  void record(const at::Tensor& ours, const at::Tensor& ref, const std::string& what, double tol);

  std::string name_;
  double worst_ = 0.0;
  int count_ = 0;
  std::map<std::string, std::unique_ptr<WorstRelL2>> groups_;
};

}  // namespace sam3rt::testing

// Expects same shape, no NaN, and rel-L2 <= tol; prints both error measures on failure.
#define SAM3RT_EXPECT_CLOSE(ours, ref, tol)                                                            \
  do {                                                                                                 \
    const at::Tensor _o = (ours), _r = (ref);                                                          \
    ASSERT_EQ(_o.sizes(), _r.sizes()) << #ours;                                                        \
    const double _e = ::sam3rt::testing::rel_l2(_o, _r);                                               \
    EXPECT_LE(_e, (tol)) << #ours << ": rel-L2 " << _e << ", max abs " << ::sam3rt::testing::max_abs(_o, _r); \
  } while (0)
