#include "io/safetensors_format.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "sam3rt/error.h"

namespace sam3rt::io {

namespace {

// A header larger than this is not a checkpoint header: the real facebook/sam3 file
// has about 1,800 tensors and a header of roughly 200 KB.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI64: return 8;
    case DType::kI32: return 4;
    case DType::kBool: return 1;
    case DType::kU8: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kBool: return "BOOL";
    case DType::kU8: return "U8";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kI64, DType::kI32,
                  DType::kBool, DType::kU8}) {
    if (name == dtype_name(d)) return d;
  }
  return std::nullopt;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, size_t available,
                                           uint64_t file_size, const std::string& file) {
  SAM3RT_CHECK(file_size >= 8 && available >= 8, kCorruption, file,
               ": not a safetensors file (", file_size, " bytes, the 8-byte header length is missing)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  SAM3RT_CHECK(n <= kMaxHeaderBytes, kCorruption, file, ": safetensors header length ", n,
               " is implausibly large");
  SAM3RT_CHECK(n <= file_size - 8, kCorruption, file, ": safetensors header length ", n,
               " runs past the end of the file (", file_size, " bytes): truncated file?");
  SAM3RT_CHECK(n <= available - 8, kCorruption, file, ": safetensors header is incomplete");

  nlohmann::json root;
  try {
    root = nlohmann::json::parse(bytes + 8, bytes + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    SAM3RT_FAIL(kCorruption, file, ": safetensors header is not valid JSON: ", e.what());
  }
  SAM3RT_CHECK(root.is_object(), kCorruption, file, ": safetensors header is not a JSON object");

  SafetensorsHeader header;
  header.data_offset = 8 + n;
  const uint64_t data_size = file_size - header.data_offset;

  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      SAM3RT_CHECK(v.is_object(), kCorruption, file, ": __metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        SAM3RT_CHECK(m.value().is_string(), kCorruption, file, ": __metadata__ entry '", m.key(),
                     "' is not a string");
        header.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    SAM3RT_CHECK(v.is_object(), kCorruption, file, ": tensor '", name, "': entry is not an object");
    TensorInfo info;
    info.name = name;

    auto dt = v.find("dtype");
    SAM3RT_CHECK(dt != v.end() && dt->is_string(), kCorruption, file, ": tensor '", name,
                 "': missing or non-string dtype");
    auto parsed = parse_dtype(dt->get<std::string>());
    SAM3RT_CHECK(parsed.has_value(), kCorruption, file, ": tensor '", name, "': unsupported dtype '",
                 dt->get<std::string>(), "' (supported: F32 F16 BF16 I64 I32 BOOL U8)");
    info.dtype = *parsed;

    auto sh = v.find("shape");
    SAM3RT_CHECK(sh != v.end() && sh->is_array(), kCorruption, file, ": tensor '", name,
                 "': missing or non-array shape");
    SAM3RT_CHECK(sh->size() <= 16, kCorruption, file, ": tensor '", name, "': ", sh->size(),
                 " dimensions is too many");
    // The product of the non-zero dimensions must fit in int64_t even for an empty
    // tensor: TensorInfo::numel() and ATen multiply the dimensions in int64_t.
    constexpr uint64_t kMaxNumel = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t nonzero_numel = 1;
    bool overflow = false;
    bool empty = false;
    for (const auto& d : *sh) {
      SAM3RT_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
                   kCorruption, file, ": tensor '", name, "': shape entries must be non-negative integers");
      uint64_t dim = d.get<uint64_t>();
      SAM3RT_CHECK(dim <= kMaxNumel, kCorruption, file, ": tensor '", name, "': dimension ", dim,
                   " is too large");
      info.shape.push_back(static_cast<int64_t>(dim));
      if (dim == 0) {
        empty = true;
      } else if (nonzero_numel > kMaxNumel / dim) {
        overflow = true;
      } else {
        nonzero_numel *= dim;
      }
    }
    const uint64_t numel = empty ? 0 : nonzero_numel;

    auto off = v.find("data_offsets");
    SAM3RT_CHECK(off != v.end() && off->is_array() && off->size() == 2, kCorruption, file,
                 ": tensor '", name, "': data_offsets must be an array of two integers");
    for (const auto& o : *off) {
      SAM3RT_CHECK(o.is_number_unsigned() || (o.is_number_integer() && o.get<int64_t>() >= 0),
                   kCorruption, file, ": tensor '", name, "': data_offsets must be non-negative integers");
    }
    info.begin = (*off)[0].get<uint64_t>();
    info.end = (*off)[1].get<uint64_t>();
    SAM3RT_CHECK(info.begin <= info.end, kCorruption, file, ": tensor '", name, "': data_offsets [",
                 info.begin, ", ", info.end, "] are reversed");
    SAM3RT_CHECK(info.end <= data_size, kCorruption, file, ": tensor '", name, "': data_offsets [",
                 info.begin, ", ", info.end, "] run past the data section (", data_size,
                 " bytes): truncated file?");
    const uint64_t esize = dtype_size(info.dtype);
    SAM3RT_CHECK(!overflow && numel <= std::numeric_limits<uint64_t>::max() / esize, kCorruption,
                 file, ": tensor '", name, "': shape ", shape_string(info.shape), " overflows");
    SAM3RT_CHECK(numel * esize == info.end - info.begin, kCorruption, file, ": tensor '", name,
                 "': shape ", shape_string(info.shape), " x ", dtype_name(info.dtype), " is ",
                 numel * esize, " bytes but data_offsets span ", info.end - info.begin);
    header.tensors.push_back(std::move(info));
  }

  // Ranges must not overlap (empty tensors occupy nothing).
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : header.tensors) {
    if (t.end > t.begin) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    SAM3RT_CHECK(by_offset[i]->begin >= by_offset[i - 1]->end, kCorruption, file, ": tensors '",
                 by_offset[i - 1]->name, "' and '", by_offset[i]->name, "' overlap in the data section");
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  return header;
}

std::string serialize_safetensors_header(const std::vector<TensorInfo>& tensors,
                                         const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  if (!metadata.empty()) root["__metadata__"] = metadata;
  for (const auto& t : tensors) {
    root[t.name] = {{"dtype", dtype_name(t.dtype)},
                    {"shape", t.shape},
                    {"data_offsets", {t.begin, t.end}}};
  }
  std::string json = root.dump();
  while ((8 + json.size()) % 8 != 0) json.push_back(' ');
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json;
}

}  // namespace sam3rt::io
