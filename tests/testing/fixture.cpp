#include "testing/fixture.h"

#include <ATen/ops/isfinite.h>

#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

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

}  // namespace sam3rt::testing
