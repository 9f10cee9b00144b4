// libFuzzer target: the input bytes are a whole safetensors file. The header parser must
// accept it or throw sam3rt::Error; any other exception, a crash or a sanitizer report
// is a finding. Builds without ATen (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>

#include "io/safetensors_format.h"
#include "sam3rt/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const sam3rt::io::SafetensorsHeader header =
        sam3rt::io::parse_safetensors_header(data, size, size, "fuzz");
    // What the parser accepted must be consistent: every range inside the file and
    // matching its shape, numel() computable without overflow.
    for (const auto& t : header.tensors) {
      if (t.end < t.begin || header.data_offset + t.end > size) __builtin_trap();
      const int64_t numel = t.numel();
      if (numel < 0 ||
          static_cast<uint64_t>(numel) * sam3rt::io::dtype_size(t.dtype) != t.end - t.begin) {
        __builtin_trap();
      }
    }
  } catch (const sam3rt::Error&) {
    // Rejected malformed input: the expected outcome.
  }
  return 0;
}
