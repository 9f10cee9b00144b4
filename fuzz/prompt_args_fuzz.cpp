// libFuzzer target: the input bytes are one argument of `sam3rt track --point/--box/--mask`
// (the first byte picks which). The parser must accept it or throw sam3rt::Error; an
// accepted prompt has a frame >= 0, finite values of the right count and a label. Any
// other exception, a crash or a sanitizer report is a finding. Builds without ATen.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "prompt_args.h"
#include "sam3rt/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    sam3rt::cli::CliPrompt p;
    size_t want = 0;
    switch (data[0] % 3) {
      case 0: p = sam3rt::cli::parse_point_arg(text), want = 2; break;
      case 1: p = sam3rt::cli::parse_box_arg(text), want = 4; break;
      default: p = sam3rt::cli::parse_mask_arg(text); break;
    }
    if (p.frame < 0 || p.values.size() != want || (want == 0 && p.path.empty())) __builtin_trap();
    for (float v : p.values) {
      if (!std::isfinite(v)) __builtin_trap();
    }
  } catch (const sam3rt::Error&) {
    // Rejected: the expected outcome for malformed input.
  }
  return 0;
}
