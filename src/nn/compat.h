// What differs between the LibTorch versions sam3rt builds against: Debian's 1.13 (CPU,
// what CI uses) and 2.x with CUDA (GPU builds). Everything version-dependent lives here.
#pragma once

#include <ATen/Context.h>
#include <ATen/core/Tensor.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <ATen/ops/zeros.h>

#include <cstdint>
#include <string>

// The version macros: torch/headeronly/version.h (2.9 on) sits with ATen's headers;
// torch/version.h is on the include path of LibTorch 2.x's `torch` target (CMake
// package). Debian's 1.13 has neither: no macros, the 1.13 paths.
#if __has_include(<torch/headeronly/version.h>)
#include <torch/headeronly/version.h>
#elif __has_include(<torch/version.h>)
#include <torch/version.h>
#endif

#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
// at::detail::getCUDAHooks().deviceSynchronize (2.0 on).
#define SAM3RT_HAVE_DEVICE_SYNCHRONIZE 1
#endif

#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 9))
// Device-generic allocator statistics (at::accelerator::getDeviceStats, 2.9 on).
#define SAM3RT_HAVE_ACCELERATOR_STATS 1
#include <ATen/DeviceAccelerator.h>
#endif

#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
// at::scaled_dot_product_attention with an explicit scale (flash / memory-efficient
// kernels on CUDA).
#define SAM3RT_HAVE_SDPA 1
#include <ATen/ops/scaled_dot_product_attention.h>
#endif

namespace sam3rt::nn::compat {

// The LibTorch version sam3rt was compiled against, and which of the paths above it has,
// for reports ("2.11.0, SDPA, device memory statistics").
inline std::string build_description() {
#if defined(TORCH_VERSION)
  std::string s = TORCH_VERSION;
#elif defined(TORCH_VERSION_MAJOR)
  std::string s = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR);
#else
  std::string s = "1.x (no version macros)";
#endif
#if defined(SAM3RT_HAVE_SDPA)
  s += ", SDPA";
#endif
#if defined(SAM3RT_HAVE_ACCELERATOR_STATS)
  s += ", device memory statistics";
#endif
  return s;
}

constexpr bool kHaveSdpa =
#if defined(SAM3RT_HAVE_SDPA)
    true;
#else
    false;
#endif

// LibTorch's fused attention: softmax(q k^T * scale + bias) v with q [B, H, Nq, d] etc.
// Only callable when kHaveSdpa; bias undefined or broadcastable, in q's dtype.
inline at::Tensor fused_sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                             double scale) {
#if defined(SAM3RT_HAVE_SDPA)
  return at::scaled_dot_product_attention(q, k, v, bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt,
                                          0.0, false, scale);
#else
  (void)k, (void)v, (void)bias, (void)scale;
  return q;  // unreachable: callers check kHaveSdpa
#endif
}

// GPUs this process sees (0 without a CUDA LibTorch).
inline int64_t cuda_device_count() {
  return at::hasCUDA() ? static_cast<int64_t>(at::detail::getCUDAHooks().getNumGPUs()) : 0;
}

// Waits until `device` has finished its queued work (CUDA runs asynchronously); no-op on
// the CPU. Without the hooks' call, a one-value copy to the host, which the default
// stream orders after everything queued before it.
inline void synchronize(const at::Device& device) {
  if (device.is_cpu()) return;
#if defined(SAM3RT_HAVE_DEVICE_SYNCHRONIZE)
  if (device.is_cuda()) {
    at::detail::getCUDAHooks().deviceSynchronize(device.has_index() ? device.index() : 0);
    return;
  }
#endif
  (void)at::zeros({1}, at::TensorOptions().device(device)).cpu();
}

// float32 matrix products and convolutions on CUDA in true float32 (TF32 off, the
// parity setting) or with TF32 allowed. Process-wide in LibTorch (its global context).
inline void allow_tf32(bool allow) {
  at::globalContext().setAllowTF32CuBLAS(allow);
  at::globalContext().setAllowTF32CuDNN(allow);
}

// Bytes allocated on `device` at the most, since the last reset_peak_memory (the caching
// allocator's count of live tensors, not what it reserved). -1 where this LibTorch does
// not say (the CPU; CUDA before 2.9).
inline int64_t peak_memory_bytes(const at::Device& device) {
#if defined(SAM3RT_HAVE_ACCELERATOR_STATS)
  if (device.is_cuda()) {
    const auto stats = at::accelerator::getDeviceStats(device.has_index() ? device.index() : 0);
    return static_cast<int64_t>(stats.allocated_bytes[0].peak);  // [0]: every pool together
  }
#endif
  (void)device;
  return -1;
}

inline void reset_peak_memory(const at::Device& device) {
#if defined(SAM3RT_HAVE_ACCELERATOR_STATS)
  if (device.is_cuda()) at::accelerator::resetPeakStats(device.has_index() ? device.index() : 0);
#endif
  (void)device;
}

}  // namespace sam3rt::nn::compat
