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

// bf16 on the CPU: where the CPU has neither AVX512-BF16 nor AMX-BF16 the products fall
// back to fp32 (matmul_dtype float, precision_note says why); otherwise the own
// AVX512-BF16 GEMM (float32 outputs), unless ATen's bf16 product (oneDNN, AMX tiles where
// present; bf16 outputs) measured more than 1.5x faster, once per process
// (nn::cpu::gemm_bf16_measured). SAM3RT_BF16_GEMM=own|aten in the
// environment overrides the measurement. No-op for fp32 or a GPU.
void choose_bf16_kernels(io::Placement& placement);

// One line naming the compute path: device, precision, which GEMM and attention kernels,
// and for bf16 on the CPU the measured rates, e.g.
// "cpu bf16: linear layers on sam3rt's AVX512-BF16 GEMM (612 GFLOP/s; ATen/oneDNN 260), ...".
std::string describe_kernels(const io::Placement& placement);

}  // namespace sam3rt::pipeline
