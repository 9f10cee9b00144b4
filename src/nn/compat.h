// What differs between the LibTorch versions sam3rt builds against: Debian's 1.13 (CPU,
// what CI uses) and 2.x with CUDA (GPU builds). Everything version-dependent lives here.
#pragma once

#include <ATen/core/Tensor.h>

// torch/version.h is on the include path of LibTorch 2.x's CMake package, not of
// Debian's 1.13 headers; either way the version decides.
#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif

#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
// at::scaled_dot_product_attention with an explicit scale (flash / memory-efficient
// kernels on CUDA).
#define SAM3RT_HAVE_SDPA 1
#include <ATen/ops/scaled_dot_product_attention.h>
#endif

namespace sam3rt::nn::compat {

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

}  // namespace sam3rt::nn::compat
