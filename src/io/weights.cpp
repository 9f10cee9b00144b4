#include "io/weights.h"

#include <ATen/ops/zeros.h>

#include "sam3rt/error.h"

namespace sam3rt::io {

namespace {

std::string shape_string(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

bool is_float(DType d) { return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16; }

// A tensor of `shape` that owns a single element: stands in for a missing weight so the
// module can finish binding; finish() reports the problem before anything runs. Expanded
// from a 0-d tensor so that a 0-d shape works too.
at::Tensor placeholder(const std::vector<int64_t>& shape, DType dtype) {
  return at::zeros({}, at::TensorOptions().dtype(to_scalar_type(dtype))).expand(shape);
}

}  // namespace

WeightStore::WeightStore(std::shared_ptr<const SafetensorsFile> file)
    : mode_(Mode::kFile), file_(std::move(file)) {}

WeightStore::WeightStore(std::map<std::string, at::Tensor> tensors)
    : mode_(Mode::kMemory), memory_(std::move(tensors)) {}

WeightStore WeightStore::declare_only() { return WeightStore(); }

WeightScope WeightStore::scope(std::string prefix) { return WeightScope(this, std::move(prefix)); }

at::Tensor WeightStore::take(const std::string& key, const std::vector<int64_t>& shape, DType dtype) {
  at::Tensor t = take_on_host(key, shape, dtype);
  return placement_.device.is_cpu() ? t : t.to(placement_.device);
}

at::Tensor WeightStore::take_on_host(const std::string& key, const std::vector<int64_t>& shape, DType dtype) {
  if (!taken_.insert(key).second) {
    mismatched_.push_back(key + ": bound twice (a module declares it more than once)");
  } else {
    expected_.push_back({key, shape, dtype});
  }
  if (mode_ == Mode::kDeclare) return placeholder(shape, dtype);

  at::Tensor t;
  DType found = dtype;
  if (mode_ == Mode::kFile) {
    const TensorInfo* info = file_->find(key);
    if (info == nullptr) {
      missing_.push_back(key + " " + shape_string(shape));
      return placeholder(shape, dtype);
    }
    found = info->dtype;
    t = file_->tensor(*info);
  } else {
    auto it = memory_.find(key);
    if (it == memory_.end()) {
      missing_.push_back(key + " " + shape_string(shape));
      return placeholder(shape, dtype);
    }
    t = it->second;
    found = from_scalar_type(t.scalar_type());
  }
  if (t.sizes() != at::IntArrayRef(shape)) {
    mismatched_.push_back(key + ": expected shape " + shape_string(shape) + ", found " + shape_string(t.sizes()));
    return placeholder(shape, dtype);
  }
  if (found != dtype) {
    if (is_float(found) && is_float(dtype)) {
      return t.to(to_scalar_type(dtype));  // e.g. a checkpoint saved in bf16
    }
    mismatched_.push_back(key + ": expected dtype " + dtype_name(dtype) + ", found " + dtype_name(found));
    return placeholder(shape, dtype);
  }
  return t;
}

at::Tensor WeightStore::convert(const at::Tensor& t, at::ScalarType dtype) const {
  if (t.scalar_type() == dtype) return t;
  return file_ ? file_->convert_tensor(t, dtype) : t.to(dtype);
}

std::vector<std::string> WeightStore::problems() const {
  std::vector<std::string> out;
  for (const auto& m : missing_) out.push_back("missing " + m);
  for (const auto& m : mismatched_) out.push_back("mismatch " + m);
  std::vector<std::string> unclaimed;
  if (mode_ == Mode::kFile) {
    for (const auto& t : file_->tensors()) {
      if (!taken_.count(t.name)) out.push_back("unexpected " + t.name + " " + shape_string(t.shape));
    }
  } else if (mode_ == Mode::kMemory) {
    for (const auto& [name, t] : memory_) {
      if (!taken_.count(name)) out.push_back("unexpected " + name + " " + shape_string(t.sizes()));
    }
  }
  return out;
}

void WeightStore::finish(const std::string& what) const {
  const auto list = problems();
  if (list.empty()) return;
  std::string msg = what + ": checkpoint does not match the model config (" + std::to_string(list.size()) +
                    " problem" + (list.size() == 1 ? "" : "s") + "):";
  constexpr size_t kShown = 200;
  for (size_t i = 0; i < list.size() && i < kShown; ++i) msg += "\n  " + list[i];
  if (list.size() > kShown) msg += "\n  ... and " + std::to_string(list.size() - kShown) + " more";
  throw Error(ErrorCode::kCorruption, msg);
}

WeightScope WeightScope::sub(std::string_view name) const {
  WeightScope s = *this;
  s.prefix_ = key(name);
  return s;
}

WeightScope WeightScope::sub(std::string_view name, int64_t index) const {
  WeightScope s = *this;
  s.prefix_ = key(name) + "." + std::to_string(index);
  return s;
}

std::string WeightScope::key(std::string_view leaf) const {
  if (prefix_.empty()) return std::string(leaf);
  return prefix_ + "." + std::string(leaf);
}

at::Tensor WeightScope::take(std::string_view leaf, const std::vector<int64_t>& shape) const {
  return store_->take(key(leaf), shape, DType::kF32);
}

at::Tensor WeightScope::take(std::string_view leaf, const std::vector<int64_t>& shape, DType dtype) const {
  return store_->take(key(leaf), shape, dtype);
}

}  // namespace sam3rt::io
