// The safetensors container format, without any tensor engine: header parsing with
// full validation, and header serialisation for the writer.
//
// Layout: u64 little-endian N, N bytes of JSON, then the data section. The JSON maps
// each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
// to the data section) plus an optional "__metadata__" object of strings.
//
// Kept free of ATen so the fuzzer (fuzz/safetensors_fuzz.cpp) can build it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sam3rt::io {

enum class DType { kF32, kF16, kBF16, kI64, kI32, kBool, kU8 };

// Bytes per element.
size_t dtype_size(DType dtype);
// The safetensors spelling: "F32", "BF16", "BOOL", ...
const char* dtype_name(DType dtype);
// Inverse of dtype_name; nullopt for anything else.
std::optional<DType> parse_dtype(std::string_view name);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the data section
  uint64_t end = 0;

  int64_t numel() const;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // 8 + N: where the data section starts in the file
};

// Parses and validates the header at the start of `bytes`. `available` is how many
// bytes of the file `bytes` holds (at least the header; the data need not be present),
// `file_size` the whole file's size, `file` the name used in messages.
// Checks: header length against the file size, well-formed JSON of the right shape,
// known dtypes, non-negative shapes, shape x dtype size == byte range, ranges inside
// the data section, no two ranges overlapping.
// Throws Error(kCorruption) naming the file, the tensor and the problem.
SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, size_t available,
                                           uint64_t file_size, const std::string& file);

// Serialises a header for `tensors` (their begin/end already set, packed in order) as
// the 8-byte length plus JSON padded with spaces to a multiple of 8 bytes, so the data
// section starts 8-aligned.
std::string serialize_safetensors_header(const std::vector<TensorInfo>& tensors,
                                         const std::map<std::string, std::string>& metadata);

}  // namespace sam3rt::io
