// The insides of sam3rt::Model: config, mapped checkpoint, bound modules, tokenizer and
// the text-feature cache. Internal (tools/ and tests may use it; users see model.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "developer/developer.h"
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
  std::unique_ptr<models::Modules> modules;
  std::optional<text::ClipTokenizer> tokenizer;  // models with a detector

  struct TextFeatures {
    at::Tensor features;  // [1, L, d]
    at::Tensor valid;     // [1, L] bool
  };
  // How many prompts' text features a model keeps: beyond this the least recently used
  // is dropped, so a server given ever new prompts does not grow without limit. An entry
  // is L x d floats (32 x 256, 32 KiB, for facebook/sam3): 2 MiB at most.
  static constexpr size_t kTextCacheEntries = 64;

  // One RGB image [H, W, 3] uint8 (any device) -> pixel values [1, 3, S, S] on the model's
  // device, normalised as the model family's processor does.
  at::Tensor preprocess(const at::Tensor& rgb) const;
  // Several images -> [B, 3, S, S], as preprocess().
  at::Tensor preprocess(const std::vector<at::Tensor>& rgb) const;

  // Tokenises and encodes `text`, or returns the cached features (the same tensors) if it
  // is among the kTextCacheEntries most recently used texts. Thread-safe.
  TextFeatures text_features(const std::string& text) const;
  // Texts cached now (at most kTextCacheEntries).
  size_t text_cache_size() const;

 private:
  // Most recently used first; text_index_ finds a text's entry. Both under text_mutex_.
  using TextLru = std::list<std::pair<std::string, TextFeatures>>;
  mutable std::mutex text_mutex_;
  mutable TextLru text_lru_;
  mutable std::unordered_map<std::string, TextLru::iterator> text_index_;
};

// The insides of a loaded model (library code only).
const Model::Impl& model_impl(const Model& model);

// Where the bundled CLIP vocabulary is (developer/developer.h).
using developer::find_bpe_vocab;

}  // namespace sam3rt
