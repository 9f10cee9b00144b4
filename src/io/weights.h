// Binding checkpoint tensors to modules by name.
//
// A WeightStore wraps one source of tensors (a safetensors file, an in-memory map, or
// nothing at all in declare-only mode). Modules receive a WeightScope, a prefix view of
// the store, and take each tensor by its checkpoint leaf name with the shape the config
// implies:
//
//   io::WeightScope s = store.scope("detector_model.detr_encoder");
//   at::Tensor w = s.sub("layers", 0).sub("self_attn").take("q_proj.weight", {256, 256});
//
// take() never throws for a missing or mis-shaped tensor: it records the problem and
// returns a placeholder of the expected shape, so one load reports EVERY problem at once.
// finish() then throws Error(kCorruption) listing all missing keys, all shape and dtype
// mismatches and all keys of the file nobody took.
//
// Declare-only mode binds nothing and records every expected key with shape and dtype:
// the manifest test compares that list with the real checkpoint's, and
// make-random-checkpoint fills it with random values.
//
// Thread-safety: not thread-safe; used during model construction only.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "io/safetensors.h"

namespace sam3rt::io {

struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::kF32;
};

class WeightScope;

// Where bound tensors live and in which dtype the matrix products run. Every tensor is
// returned on `device` in the dtype take() asks for (float32 unless stated); layers that
// multiply (nn::Linear, nn::Conv2d, nn::ConvTranspose2d) convert their weights to
// `matmul_dtype` themselves (bfloat16: "bf16 matmuls, fp32 everything else";
// docs/performance.md).
// sam3rt's own CPU kernels, where the CPU has them (ModelOptions::cpu_gemm and
// ::fused_attention decide; each module keeps the choice it was bound with).
struct CpuKernels {
  bool own_gemm = true;         // float32 linear layers on the own AVX-512 GEMM, else the BLAS
  bool own_bf16_gemm = false;   // bf16 linear layers on the own AVX512-BF16 GEMM, else ATen (oneDNN)
  bool bf16_attention = true;   // with bf16 products: attention's two products in bf16 too
  bool fused_attention = true;  // the fused AVX-512 / AVX2 attention, else the chunked path
};

struct Placement {
  at::Device device = at::Device(at::kCPU);
  at::ScalarType matmul_dtype = at::kFloat;
  CpuKernels kernels;
  // Set when the precision asked for is not what runs (bf16 on a CPU without bf16
  // products runs fp32): one line for the user.
  std::string precision_note;
};

class WeightStore {
 public:
  // Binds tensors of a checkpoint file (zero-copy views).
  explicit WeightStore(std::shared_ptr<const SafetensorsFile> file);
  // Binds tensors held in memory (tests, freshly made random checkpoints).
  explicit WeightStore(std::map<std::string, at::Tensor> tensors);
  // Binds nothing; records what is expected. take() returns placeholders.
  static WeightStore declare_only();

  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;
  WeightStore(WeightStore&&) = default;
  WeightStore& operator=(WeightStore&&) = default;

  WeightScope scope(std::string prefix = "");

  // Set before binding; default: CPU, float32 products.
  void set_placement(const Placement& placement) { placement_ = placement; }
  const Placement& placement() const { return placement_; }

  // See WeightScope::take. `key` is the full checkpoint name.
  at::Tensor take(const std::string& key, const std::vector<int64_t>& shape, DType dtype);
  // t (a tensor take() returned) in another dtype; for a checkpoint file, converted so that
  // its float32 pages do not stay resident (SafetensorsFile::convert_tensor).
  at::Tensor convert(const at::Tensor& t, at::ScalarType dtype) const;

  // Every key taken so far, in order, with its expected shape and dtype.
  const std::vector<ExpectedTensor>& expected() const { return expected_; }

  // Problems found so far, one line each (missing, mismatched, and, once finish() runs,
  // unclaimed keys).
  std::vector<std::string> problems() const;

  // Throws Error(kCorruption) listing every problem; `what` names the source in the
  // message (e.g. the checkpoint path). No-op when everything matched.
  void finish(const std::string& what) const;

  bool declare_only_mode() const { return mode_ == Mode::kDeclare; }

 private:
  enum class Mode { kFile, kMemory, kDeclare };
  WeightStore() = default;

  at::Tensor take_on_host(const std::string& key, const std::vector<int64_t>& shape, DType dtype);

  Mode mode_ = Mode::kDeclare;
  Placement placement_;
  std::shared_ptr<const SafetensorsFile> file_;
  std::map<std::string, at::Tensor> memory_;
  std::vector<ExpectedTensor> expected_;
  std::set<std::string> taken_;
  std::vector<std::string> missing_;
  std::vector<std::string> mismatched_;
};

// A prefix view of a WeightStore. Cheap to copy; must not outlive its store.
class WeightScope {
 public:
  WeightScope(WeightStore* store, std::string prefix) : store_(store), prefix_(std::move(prefix)) {}

  // "prefix.name" and "prefix.name.index".
  WeightScope sub(std::string_view name) const;
  WeightScope sub(std::string_view name, int64_t index) const;

  // The tensor "prefix.leaf" as float32 (F16/BF16 files are converted) with exactly
  // `shape`. A missing key or another shape is recorded in the store (see finish()) and a
  // placeholder of `shape` is returned.
  at::Tensor take(std::string_view leaf, const std::vector<int64_t>& shape) const;
  // WeightStore::convert.
  at::Tensor convert(const at::Tensor& t, at::ScalarType dtype) const { return store_->convert(t, dtype); }
  at::Tensor take(std::string_view leaf, const std::vector<int64_t>& shape, DType dtype) const;

  const std::string& prefix() const { return prefix_; }
  // The store's placement, with float32 products where this scope asked for them.
  Placement placement() const {
    Placement p = store_->placement();
    if (fp32_products_) p.matmul_dtype = at::kFloat;
    return p;
  }
  // This scope (and its sub-scopes) with float32 products whatever the store's matmul
  // dtype: for the small heads whose outputs are scores, boxes and positional biases.
  WeightScope fp32_products() const {
    WeightScope s = *this;
    s.fp32_products_ = true;
    return s;
  }
  std::string key(std::string_view leaf) const;

 private:
  WeightStore* store_;
  std::string prefix_;
  bool fp32_products_ = false;
};

}  // namespace sam3rt::io
