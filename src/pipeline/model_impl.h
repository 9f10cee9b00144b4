// The insides of sam3rt::Model: config, mapped checkpoint, bound modules, tokenizer and
// the text-feature cache. Internal (tools/ and tests may use it; users see model.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "io/config.h"
#include "io/safetensors.h"
#include "models/modules.h"
#include "sam3rt/model.h"
#include "text/clip_tokenizer.h"

namespace sam3rt {

struct Model::Impl {
  ModelOptions options;
  io::Placement placement;  // from options.device / options.precision
  ModelConfig config;
  std::shared_ptr<const io::SafetensorsFile> file;
  std::unique_ptr<models::Sam3Modules> modules;
  std::optional<text::ClipTokenizer> tokenizer;  // models with a detector

  struct TextFeatures {
    at::Tensor features;  // [1, L, d]
    at::Tensor valid;     // [1, L] bool
  };
  // Tokenises and encodes `text` once per model; later calls hit the cache. Thread-safe.
  TextFeatures text_features(const std::string& text) const;

 private:
  mutable std::mutex text_mutex_;
  mutable std::map<std::string, TextFeatures> text_cache_;
};

// Where the bundled CLIP vocabulary is: options.bpe_vocab_path if set, else next to the
// installed or built executable. Empty if nowhere.
std::string find_bpe_vocab(const std::string& explicit_path);

}  // namespace sam3rt
