// libFuzzer target: the input bytes are a config.json. parse_model_config must accept
// it or throw sam3rt::Error; any other exception, a crash or a sanitizer report is a
// finding. Builds without ATen (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/config.h"
#include "sam3rt/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const sam3rt::ModelConfig config =
        sam3rt::parse_model_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    // An accepted config has the parts its type promises.
    using sam3rt::ModelType;
    const bool want_detector =
        config.type == ModelType::kSam3Image || config.type == ModelType::kSam3Video;
    const bool want_tracker = config.type != ModelType::kSam3Image;
    const bool want_video = config.type == ModelType::kSam3Video;
    if (config.detector.has_value() != want_detector || config.tracker.has_value() != want_tracker ||
        config.video.has_value() != want_video) {
      __builtin_trap();
    }
  } catch (const sam3rt::Error&) {
    // Rejected malformed input: the expected outcome.
  }
  return 0;
}
