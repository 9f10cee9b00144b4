// Safetensors files as ATen tensors: a read-only mmap (MAP_POPULATE) whose tensors are
// zero-copy views, and a writer.
//
// Thread-safety: a SafetensorsFile is immutable after open() and safe to share.
// Tensors it returns keep the mapping alive; they must not be written to (the pages are
// mapped read-only).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/safetensors_format.h"

namespace sam3rt::io {

at::ScalarType to_scalar_type(DType dtype);
// Throws Error(kUnsupported) for a scalar type safetensors cannot hold here.
DType from_scalar_type(at::ScalarType type);

class SafetensorsFile {
 public:
  // Maps and validates `path`. Throws Error(kNotFound / kIo) if it cannot be read,
  // Error(kCorruption) naming the tensor and problem if it is malformed.
  // populate: read the whole file in at once (MAP_POPULATE; fast on these VMs). A model
  // that converts its weights at load passes false and converts tensor by tensor
  // (convert_tensor), so that the float32 file is never resident all at once.
  static std::shared_ptr<const SafetensorsFile> open(const std::string& path, bool populate = true);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }

  // nullptr when absent.
  const TensorInfo* find(std::string_view name) const;
  // Drops the mapping's pages from this process's resident memory (madvise DONTNEED):
  // for a model whose weights were copied at load (converted to bf16, moved to a GPU), so
  // that the file's float32 pages stop counting twice. Views stay valid: a page read
  // later is faulted in again from the file.
  void release_resident_pages() const;
  // t.to(dtype) for a view of this file, reading its pages in one go first and dropping
  // them from resident memory after (views stay valid: pages fault in again when read).
  // Other tensors are converted plainly.
  at::Tensor convert_tensor(const at::Tensor& t, at::ScalarType dtype) const;
  // Zero-copy CPU view of one tensor. Throws Error(kNotFound) naming the key.
  at::Tensor tensor(std::string_view name) const;
  at::Tensor tensor(const TensorInfo& info) const;

 private:
  struct Mapping;
  SafetensorsFile() = default;

  std::string path_;
  SafetensorsHeader header_;
  std::shared_ptr<Mapping> mapping_;
};

// Writes `tensors` (any device, contiguous or not; stored in order) to `path`.
// Throws Error(kIo) if the file cannot be written.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sam3rt::io
