// Parsing where a model runs and at which precision, as users name them
// ("cpu" / "cuda" / "cuda:1"; "fp32" / "bf16").
#pragma once

#include <string>

#include "io/weights.h"

namespace sam3rt::pipeline {

// Throws Error(kInvalidArgument) naming an unknown device or precision, and
// Error(kUnsupported) for "cuda" when the LibTorch sam3rt was built with has no CUDA or
// sees no GPU.
io::Placement parse_placement(const std::string& device, const std::string& precision);

// The CPU kernels ModelOptions::cpu_gemm ("auto", "own", "blas") and ::fused_attention
// ask for, with the environment's debugging overrides (SAM3RT_GEMM=own|blas,
// SAM3RT_FUSED_ATTENTION=off) applied. "auto" measures once per process
// (nn::cpu::gemm_measured_faster). Throws Error(kInvalidArgument) for another cpu_gemm.
io::CpuKernels cpu_kernels(const std::string& cpu_gemm, bool fused_attention);

}  // namespace sam3rt::pipeline
