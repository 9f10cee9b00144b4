#include "pipeline/placement.h"

#include <ATen/Context.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "nn/compat.h"
#include "nn/cpu/fused_attention.h"
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

void choose_bf16_kernels(io::Placement& p) {
  if (!p.device.is_cpu() || p.matmul_dtype != at::kBFloat16) return;
  const nn::cpu::Bf16Support cpu = nn::cpu::bf16_support();
  if (!cpu.avx512_bf16 && !cpu.amx_bf16) {
    p.matmul_dtype = at::kFloat;
    p.kernels.own_bf16_gemm = false;
    p.precision_note = "bf16 requested, but this CPU has neither AMX-BF16 nor AVX512-BF16: running fp32";
    return;
  }
  if (const char* env = std::getenv("SAM3RT_BF16_ATTENTION"); env != nullptr && std::strcmp(env, "off") == 0) {
    p.kernels.bf16_attention = false;
  }
  std::string choice = "auto";
  if (const char* env = std::getenv("SAM3RT_BF16_GEMM"); env != nullptr && *env != '\0') {
    choice = env;
    SAM3RT_CHECK(choice == "own" || choice == "aten" || choice == "auto", kInvalidArgument, "SAM3RT_BF16_GEMM='", env,
                 "' (expected auto, own or aten)");
  }
  if (choice == "own") {
    p.kernels.own_bf16_gemm = nn::cpu::gemm_bf16_available();
  } else if (choice == "aten") {
    p.kernels.own_bf16_gemm = false;
  } else {
    // The own kernel keeps float32 outputs; ATen's bf16 product rounds them to bf16 (a
    // worse tracker mask IoU against fp32, measured: worst 0.978 against 0.983 on the demo
    // model, under the gate's 0.98). So ATen only where it is far faster (oneDNN on AMX
    // tiles); on the AVX512-BF16 machine measured here oneDNN's one thread ran 1.43x the
    // own kernel's one thread.
    const nn::cpu::Bf16Rates r = nn::cpu::gemm_bf16_measured();
    p.kernels.own_bf16_gemm = r.own > 0 && r.own * 1.5 >= r.aten;
  }
}

std::string describe_kernels(const io::Placement& p) {
  const bool bf16 = p.matmul_dtype == at::kBFloat16;
  std::string s = p.device.is_cpu() ? "cpu" : p.device.str();
  s += bf16 ? " bf16" : " fp32";
  if (!p.device.is_cpu()) {
    return s + (bf16 ? ": LibTorch's bf16 products and fused attention (fp32 softmax)" : ": LibTorch's kernels");
  }
  const nn::cpu::Bf16Support cpu = nn::cpu::bf16_support();
  char buf[160];
  if (bf16) {
    const nn::cpu::Bf16Rates r = nn::cpu::gemm_bf16_measured();
    std::snprintf(buf, sizeof buf, " (measured %.0f GFLOP/s own, %.0f ATen)", r.own, r.aten);
    s += p.kernels.own_bf16_gemm ? ": linear layers on sam3rt's AVX512-BF16 GEMM"
                                 : std::string(": linear layers on ATen's bf16 product (oneDNN") +
                                       (cpu.amx_bf16 ? ", AMX tiles)" : ", AVX512-BF16)");
    s += buf;
    s += ", convolutions on oneDNN bf16";
  } else {
    s += p.kernels.own_gemm ? ": linear layers on sam3rt's AVX-512 GEMM" : ": linear layers on the BLAS";
  }
  if (!p.kernels.fused_attention) {
    s += ", attention on ATen (fp32)";
  } else if (bf16 && p.kernels.bf16_attention && nn::cpu::fused_attention_bf16_available()) {
    s += ", attention on the fused kernel with bf16 products (fp32 softmax)";
  } else {
    s += ", attention on the fused fp32 kernel";
  }
  s += "; CPU has ";
  s += cpu.amx_bf16 ? "AMX-BF16" : "no AMX";
  s += cpu.avx512_bf16 ? ", AVX512-BF16" : ", no AVX512-BF16";
  if (!p.precision_note.empty()) s += "; " + p.precision_note;
  return s;
}

}  // namespace sam3rt::pipeline
