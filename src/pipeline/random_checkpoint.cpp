#include "pipeline/random_checkpoint.h"

#include <ATen/core/Generator.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/randn.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/config.h"
#include "io/safetensors.h"
#include "models/modules.h"
#include "sam3rt/error.h"

namespace sam3rt::pipeline {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

at::Tensor random_tensor(const io::ExpectedTensor& t, at::Generator& gen) {
  at::Tensor x = at::randn(t.shape, gen, at::TensorOptions().dtype(at::kFloat));
  if (t.shape.size() >= 2) {
    int64_t fan_in = 1;
    for (size_t i = 1; i < t.shape.size(); ++i) fan_in *= t.shape[i];
    if (ends_with(t.name, "positional_embedding")) return x;  // random Fourier features: N(0, 1)
    if (t.shape[0] == 1 || ends_with(t.name, "embedding.weight") || ends_with(t.name, "position_embeddings")) {
      return x.mul_(0.2);
    }
    return x.mul_(1.0 / std::sqrt(static_cast<double>(fan_in)));
  }
  if (ends_with(t.name, ".weight")) return x.mul_(0.1).add_(1.0);  // norm gains
  if (ends_with(t.name, ".scale")) return x.mul_(0.1).add_(1.0);   // layer scale
  return x.mul_(0.02);
}

}  // namespace

}  // namespace sam3rt::pipeline

namespace sam3rt::developer {

namespace fs = std::filesystem;
using pipeline::random_tensor;

void make_random_checkpoint(const std::string& config_path, const std::string& out_dir,
                            const RandomCheckpointOptions& options) {
  const ModelConfig config = load_model_config(config_path);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  SAM3RT_CHECK(!ec && fs::is_directory(out_dir), kIo, out_dir, ": cannot create directory");
  fs::copy_file(config_path, fs::path(out_dir) / "config.json", fs::copy_options::overwrite_existing, ec);
  SAM3RT_CHECK(!ec, kIo, out_dir, "/config.json: cannot write: ", ec.message());

  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& t : models::expected_tensors(config)) {
    at::Tensor x = random_tensor(t, gen);
    if (options.half) x = x.to(at::kHalf);
    tensors.emplace_back(t.name, std::move(x));
  }
  io::write_safetensors((fs::path(out_dir) / "model.safetensors").string(), tensors,
                    {{"format", "pt"}, {"producer", "sam3rt make-random-checkpoint"},
                     {"seed", std::to_string(options.seed)}});
}

}  // namespace sam3rt::developer
