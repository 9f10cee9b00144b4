#include "model_flags.h"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace sam3rt::cli {

void add_model_flags(CLI::App* cmd, ModelOptions& o, const std::string& hf_text_only_help) {
  cmd->add_option("--model", o.model_dir, "model folder (config.json + model.safetensors)")->required();
  cmd->add_option("--threads", o.num_threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--device", o.device, "cpu, cuda or cuda:N (needs a CUDA build)");
  cmd->add_option("--precision", o.precision, "fp32, or bf16 matrix products (norms, softmax, scores stay fp32)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--cpu-gemm", o.cpu_gemm,
                  "float32 linear layers on the CPU: auto (the faster on this CPU), own (AVX-512) or blas")
      ->check(CLI::IsMember({"auto", "own", "blas"}));
  cmd->add_flag("--no-fused-attention{false}", o.fused_attention,
                "CPU attention through ATen's operations instead of the fused kernel");
  cmd->add_flag("--hf-text-only", o.hf_text_only, hf_text_only_help);
}

void note_random_weights(const std::string& model_dir) {
  std::fprintf(stderr,
               "sam3rt: note: %s has random weights: its masks are meaningless (use facebook/sam3 or "
               "facebook/sam2.1-hiera-* for real results)\n",
               model_dir.c_str());
}

void note_compute_path(const Model& model) {
  if (model.options().precision != "fp32") std::fprintf(stderr, "sam3rt: %s\n", model.compute_path().c_str());
}

}  // namespace sam3rt::cli
