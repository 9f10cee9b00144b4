#include "testing/fixture.h"

#include <ATen/ops/isfinite.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "io/config.h"
#include "io/weights.h"
#include "models/modules.h"

namespace sam3rt::testing {

std::string data_path(const std::string& relative) { return std::string(SAM3RT_TEST_DATA) + "/" + relative; }

Fixture::Fixture(const std::string& relative_dir) : dir_(data_path(relative_dir)) {
  inputs_ = io::SafetensorsFile::open(dir_ + "/reference_inputs.safetensors");
  outputs_ = io::SafetensorsFile::open(dir_ + "/reference_outputs.safetensors");
  intermediates_ = io::SafetensorsFile::open(dir_ + "/reference_intermediates.safetensors");
  std::ifstream in(dir_ + "/index.json");
  const auto index = nlohmann::json::parse(in);
  if (index.contains("input_aliases")) {
    for (auto it = index["input_aliases"].begin(); it != index["input_aliases"].end(); ++it) {
      aliases_[it.key()] = it.value().get<std::string>();
    }
  }
}

at::Tensor Fixture::input(const std::string& name) const {
  auto it = aliases_.find(name);
  return inputs_->tensor(it == aliases_.end() ? name : it->second);
}

at::Tensor Fixture::output(const std::string& name) const { return outputs_->tensor(name); }
at::Tensor Fixture::intermediate(const std::string& name) const { return intermediates_->tensor(name); }
bool Fixture::has_intermediate(const std::string& name) const { return intermediates_->find(name) != nullptr; }

double rel_l2(const at::Tensor& ours, const at::Tensor& ref) {
  at::Tensor a = ours.detach().cpu().to(at::kDouble), b = ref.detach().cpu().to(at::kDouble);
  if (!at::isfinite(a).all().item<bool>()) return std::numeric_limits<double>::infinity();
  const double rn = b.norm().item<double>();
  const double dn = a.sub(b).norm().item<double>();
  return rn > 0 ? dn / rn : dn;
}

double max_abs(const at::Tensor& ours, const at::Tensor& ref) {
  at::Tensor a = ours.detach().cpu().to(at::kDouble), b = ref.detach().cpu().to(at::kDouble);
  return a.numel() ? a.sub(b).abs().max().item<double>() : 0.0;
}

BoundModel::BoundModel() = default;
BoundModel::BoundModel(BoundModel&&) noexcept = default;
BoundModel& BoundModel::operator=(BoundModel&&) noexcept = default;
BoundModel::~BoundModel() = default;

BoundModel bind_model(const std::string& dir) { return bind_model(dir, load_model_config(dir + "/config.json")); }

BoundModel bind_model(const std::string& dir, const ModelConfig& config) {
  const std::string path = dir + "/model.safetensors";
  BoundModel b;
  b.checkpoint = io::SafetensorsFile::open(path);
  // The store only records what was taken; the bound tensors hold the mapping themselves.
  io::WeightStore store(b.checkpoint);
  b.modules = models::bind_modules(config, store);
  store.finish(path);
  return b;
}

WorstRelL2::WorstRelL2(std::string name) : name_(std::move(name)) {}

WorstRelL2::~WorstRelL2() {
  if (count_ > 0) std::printf("[ rel-L2   ] %-48s worst %.3g over %d tensors\n", name_.c_str(), worst_, count_);
}

void WorstRelL2::check(const at::Tensor& ours, const at::Tensor& ref, const std::string& what, double tol) {
  SCOPED_TRACE(name_ + ": " + what);
  record(ours, ref, what, tol);
}

void WorstRelL2::check_values(const at::Tensor& ours, const at::Tensor& ref, const std::string& what, double tol) {
  SCOPED_TRACE(name_ + ": " + what);
  ASSERT_TRUE(ours.defined()) << what;
  ASSERT_EQ(ours.numel(), ref.numel()) << what;
  record(ours.reshape(ref.sizes()).to(at::kFloat).cpu(), ref.to(at::kFloat).cpu(), what, tol);
}

// SAM3RT_EXPECT_CLOSE, keeping the error for the worst.
void WorstRelL2::record(const at::Tensor& ours, const at::Tensor& ref, const std::string& what, double tol) {
  ASSERT_EQ(ours.sizes(), ref.sizes()) << what;
  const double e = rel_l2(ours, ref);
  EXPECT_LE(e, tol) << what << ": rel-L2 " << e << ", max abs " << max_abs(ours, ref);
  worst_ = std::max(worst_, e);
  ++count_;
}

WorstRelL2& WorstRelL2::group(const std::string& kind) {
  std::unique_ptr<WorstRelL2>& g = groups_[kind];
  if (!g) g = std::make_unique<WorstRelL2>(name_ + " " + kind);
  return *g;
}

std::vector<int64_t> to_vector(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

}  // namespace sam3rt::testing
