#include "pipeline/placement.h"

#include <ATen/Context.h>

#include <cstdlib>
#include <cstring>

#include "nn/compat.h"
#include "nn/cpu/gemm.h"
#include "sam3rt/error.h"

namespace sam3rt::pipeline {

io::Placement parse_placement(const std::string& device, const std::string& precision) {
  io::Placement p;
  if (precision == "fp32" || precision.empty()) {
    p.matmul_dtype = at::kFloat;
  } else if (precision == "bf16") {
    p.matmul_dtype = at::kBFloat16;
  } else {
    throw Error(ErrorCode::kInvalidArgument, "unknown precision '" + precision + "' (expected fp32 or bf16)");
  }
  if (device == "cpu" || device.empty()) {
    p.device = at::Device(at::kCPU);
    return p;
  }
  SAM3RT_CHECK(device.rfind("cuda", 0) == 0, kInvalidArgument, "unknown device '", device,
               "' (expected cpu, cuda or cuda:N)");
  int index = 0;
  if (device.size() > 4) {
    SAM3RT_CHECK(device[4] == ':' && device.size() > 5 && device.find_first_not_of("0123456789", 5) == std::string::npos &&
                     device.size() < 9,
                 kInvalidArgument, "unknown device '", device, "' (expected cpu, cuda or cuda:N)");
    index = std::stoi(device.substr(5));
  }
  SAM3RT_CHECK(at::hasCUDA(), kUnsupported, "device '", device,
               "' requested, but this sam3rt was built against a LibTorch without CUDA or no GPU is visible");
  const int64_t count = nn::compat::cuda_device_count();
  SAM3RT_CHECK(index < count, kInvalidArgument, "device '", device, "' requested, but ", count,
               " GPU(s) are visible (cuda:0 to cuda:", count - 1, ")");
  p.device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
  return p;
}

io::CpuKernels cpu_kernels(const std::string& cpu_gemm, bool fused_attention) {
  std::string gemm = cpu_gemm.empty() ? "auto" : cpu_gemm;
  SAM3RT_CHECK(gemm == "auto" || gemm == "own" || gemm == "blas", kInvalidArgument, "unknown cpu_gemm '", cpu_gemm,
               "' (expected auto, own or blas)");
  if (const char* env = std::getenv("SAM3RT_GEMM"); env != nullptr && *env != '\0') {
    gemm = std::strcmp(env, "off") == 0 ? "blas" : env;  // "off": the older spelling of blas
    SAM3RT_CHECK(gemm == "auto" || gemm == "own" || gemm == "blas", kInvalidArgument, "SAM3RT_GEMM='", env,
                 "' (expected auto, own or blas)");
  }
  if (const char* env = std::getenv("SAM3RT_FUSED_ATTENTION"); env != nullptr && std::strcmp(env, "off") == 0) {
    fused_attention = false;
  }
  io::CpuKernels k;
  k.own_gemm = gemm == "own" ? nn::cpu::gemm_available() : gemm == "auto" && nn::cpu::gemm_measured_faster();
  k.fused_attention = fused_attention;
  return k;
}

}  // namespace sam3rt::pipeline
