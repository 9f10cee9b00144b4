#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include "sam3rt/error.h"

namespace sam3rt::io {

struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr && addr != MAP_FAILED) munmap(addr, size);
  }
};

at::ScalarType to_scalar_type(DType dtype) {
  switch (dtype) {
    case DType::kF32: return at::kFloat;
    case DType::kF16: return at::kHalf;
    case DType::kBF16: return at::kBFloat16;
    case DType::kI64: return at::kLong;
    case DType::kI32: return at::kInt;
    case DType::kBool: return at::kBool;
    case DType::kU8: return at::kByte;
  }
  return at::kFloat;
}

DType from_scalar_type(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return DType::kF32;
    case at::kHalf: return DType::kF16;
    case at::kBFloat16: return DType::kBF16;
    case at::kLong: return DType::kI64;
    case at::kInt: return DType::kI32;
    case at::kBool: return DType::kBool;
    case at::kByte: return DType::kU8;
    default: break;
  }
  SAM3RT_FAIL(kUnsupported, "safetensors: unsupported tensor type ", c10::toString(type));
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::string& path, bool populate) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    SAM3RT_CHECK(err != ENOENT, kNotFound, path, ": no such file");
    SAM3RT_FAIL(kIo, path, ": cannot open: ", std::strerror(err));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    SAM3RT_FAIL(kIo, path, ": not a regular file");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<size_t>(st.st_size);
  if (mapping->size > 0) {
    // MAP_POPULATE reads the whole file in one go: 3x faster than faulting it in page by
    // page on these VMs (toolchain.md §8). Read-only so no page is ever copied.
    mapping->addr = mmap(nullptr, mapping->size, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
  }
  ::close(fd);
  SAM3RT_CHECK(mapping->size == 0 || mapping->addr != MAP_FAILED, kIo, path,
               ": cannot map: ", std::strerror(errno));
  const auto* bytes = static_cast<const uint8_t*>(mapping->size ? mapping->addr : nullptr);
  static const uint8_t kEmpty[8] = {};
  auto file = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  file->path_ = path;
  file->header_ = parse_safetensors_header(bytes ? bytes : kEmpty, mapping->size, mapping->size, path);
  file->mapping_ = std::move(mapping);
  return file;
}

SafetensorsFile::~SafetensorsFile() = default;

at::Tensor SafetensorsFile::convert_tensor(const at::Tensor& t, at::ScalarType dtype) const {
  const auto* base = static_cast<const uint8_t*>(mapping_ ? mapping_->addr : nullptr);
  const auto* data = static_cast<const uint8_t*>(t.data_ptr());
  const size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
  const bool in_file = base != nullptr && t.is_cpu() && t.is_contiguous() && data >= base &&
                       data + bytes <= base + mapping_->size;
  if (!in_file || bytes == 0) return t.to(dtype);
  // Whole pages inside the tensor's bytes (a neighbour's page is left alone).
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t lo = reinterpret_cast<uintptr_t>(data), hi = lo + bytes;
  const uintptr_t first = lo & ~(page - 1), inner_first = (lo + page - 1) & ~(page - 1), inner_last = hi & ~(page - 1);
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
  // One read-ahead of the tensor's pages instead of a fault per page (Linux 5.14+; on an
  // older kernel the call fails and the pages fault in as read).
  (void)madvise(reinterpret_cast<void*>(first), hi - first, MADV_POPULATE_READ);
  at::Tensor out = t.to(dtype);
  if (inner_last > inner_first) (void)madvise(reinterpret_cast<void*>(inner_first), inner_last - inner_first, MADV_DONTNEED);
  return out;
}

void SafetensorsFile::release_resident_pages() const {
  if (mapping_ && mapping_->size > 0) (void)madvise(mapping_->addr, mapping_->size, MADV_DONTNEED);
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(header_.tensors.begin(), header_.tensors.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  if (it == header_.tensors.end() || it->name != name) return nullptr;
  return &*it;
}

at::Tensor SafetensorsFile::tensor(std::string_view name) const {
  const TensorInfo* info = find(name);
  SAM3RT_CHECK(info != nullptr, kNotFound, path_, ": no tensor named '", name, "'");
  return tensor(*info);
}

at::Tensor SafetensorsFile::tensor(const TensorInfo& info) const {
  const at::ScalarType type = to_scalar_type(info.dtype);
  const size_t nbytes = info.end - info.begin;
  auto* base = static_cast<uint8_t*>(mapping_->addr) + header_.data_offset + info.begin;
  const size_t esize = dtype_size(info.dtype);
  if (nbytes == 0 || reinterpret_cast<uintptr_t>(base) % esize != 0) {
    // Misaligned data (legal in the format, unusual in practice): copy once.
    at::Tensor t = at::empty(info.shape, at::TensorOptions().dtype(type));
    if (nbytes) std::memcpy(t.data_ptr(), base, nbytes);
    return t;
  }
  // A zero-copy view: the deleter holds the mapping alive for as long as the tensor.
  auto keep = mapping_;
  at::Tensor t = at::from_blob(base, info.shape, [keep](void*) mutable { keep.reset(); },
                               at::TensorOptions().dtype(type));
  return t;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorInfo> infos;
  std::vector<at::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    TensorInfo info;
    info.name = name;
    info.dtype = from_scalar_type(t.scalar_type());
    info.shape = t.sizes().vec();
    at::Tensor c = t.cpu().contiguous();
    info.begin = offset;
    info.end = offset + c.numel() * c.element_size();
    offset = info.end;
    infos.push_back(std::move(info));
    data.push_back(std::move(c));
  }
  const std::string header = serialize_safetensors_header(infos, metadata);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  SAM3RT_CHECK(out.good(), kIo, path, ": cannot open for writing");
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const auto& c : data) {
    out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
  }
  out.close();
  SAM3RT_CHECK(out.good(), kIo, path, ": write failed");
}

}  // namespace sam3rt::io
