// Test helpers: reading refgen fixture folders and comparing tensors against them.
#pragma once

#include <ATen/core/Tensor.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "io/safetensors.h"

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

}  // namespace sam3rt::testing

// Expects same shape, no NaN, and rel-L2 <= tol; prints both error measures on failure.
#define SAM3RT_EXPECT_CLOSE(ours, ref, tol)                                                            \
  do {                                                                                                 \
    const at::Tensor _o = (ours), _r = (ref);                                                          \
    ASSERT_EQ(_o.sizes(), _r.sizes()) << #ours;                                                        \
    const double _e = ::sam3rt::testing::rel_l2(_o, _r);                                               \
    EXPECT_LE(_e, (tol)) << #ours << ": rel-L2 " << _e << ", max abs " << ::sam3rt::testing::max_abs(_o, _r); \
  } while (0)
