// libFuzzer target: the input bytes are a text prompt (any bytes, valid UTF-8 or not). The
// CLIP tokenizer must encode it or throw sam3rt::Error; an encoding has exactly 32 ids,
// starts with <start_of_text>, holds <end_of_text>, masks exactly the non-zero ids and uses
// only vocabulary ids. Anything else, a crash or a sanitizer report is a finding. Builds
// without ATen; run from the repository root (the bundled assets/ vocabulary).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sam3rt/error.h"
#include "text/clip_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sam3rt::text::ClipTokenizer tok =
      sam3rt::text::ClipTokenizer::from_bpe_gz("assets/bpe_simple_vocab_16e6.txt.gz");
  try {
    const auto e = tok.encode(std::string_view(reinterpret_cast<const char*>(data), size), 32);
    if (e.ids.size() != 32 || e.attention_mask.size() != 32 || e.ids[0] != tok.sot_id()) __builtin_trap();
    bool eot = false;
    for (size_t i = 0; i < e.ids.size(); ++i) {
      if (e.ids[i] < 0 || e.ids[i] > tok.eot_id()) __builtin_trap();
      if (e.attention_mask[i] != (e.ids[i] != 0 ? 1 : 0)) __builtin_trap();
      eot = eot || e.ids[i] == tok.eot_id();
    }
    if (!eot) __builtin_trap();
  } catch (const sam3rt::Error&) {
    // Rejected: allowed, but the tokenizer has no reason to reject a prompt.
  }
  return 0;
}
