// Options of the sam3rt API, as plain structs with documented defaults (change only the
// fields you need).
#pragma once

#include <string>

namespace sam3rt {

// Fixed for the lifetime of a loaded model.
struct ModelOptions {
  // Folder with config.json and model.safetensors (facebook/sam3 or a sam3rt random
  // checkpoint); vocab.json + merges.txt there are used for tokenizing when present.
  std::string model_dir;

  // CLIP merges file (bpe_simple_vocab_16e6.txt.gz) used when model_dir has no
  // tokenizer files. Empty = the copy installed with sam3rt.
  std::string bpe_vocab_path;

  // Cores to compute on. 0 = all cores. Process-wide (ATen and the BLAS have one pool
  // each). With a pthreads OpenBLAS the BLAS gets them and ATen's own kernels run on the
  // calling thread (the two pools fight otherwise; src/pipeline/threading.h).
  int num_threads = 0;

  // Where the model runs: "cpu", "cuda" or "cuda:N" (needs sam3rt built against a CUDA
  // LibTorch; see README). Weights are copied to the device once at load.
  std::string device = "cpu";

  // "fp32", or "bf16": matrix products (linear layers, convolutions) in bfloat16 with
  // float32 accumulation, everything else (norms, softmax, scores, boxes) in float32.
  std::string precision = "fp32";

  // CUDA only: let float32 matrix products and convolutions use TF32 tensor cores
  // (faster; about 1e-3 relative error instead of float32's 1e-7). Off by default, so
  // that fp32 on a GPU matches fp32 on the CPU. LibTorch holds this switch per process:
  // the last model loaded sets it for every model of the process.
  bool allow_tf32 = false;

  // CPU kernels (docs/performance.md, "What sam3rt does"). cpu_gemm: "auto" (default)
  // runs float32 linear layers on sam3rt's own AVX-512 GEMM where a short measurement at
  // the process's first load found it faster than the BLAS (about 50 ms, once per
  // process), "own" where the CPU has AVX-512, "blas" never. fused_attention: the fused
  // AVX-512 / AVX2 attention kernel where the CPU has it; false = ATen's operations in
  // chunks. Each model keeps the kernels it was loaded with. For debugging, SAM3RT_GEMM
  // (own|blas) and SAM3RT_FUSED_ATTENTION=off in the environment override both.
  std::string cpu_gemm = "auto";
  bool fused_attention = true;

  // Keep freed activation memory in the process (glibc mallopt: mmap and trim thresholds
  // 1 GiB), so that each pass reuses touched pages instead of faulting in new ones (2-3x
  // faster passes on the machines measured; docs/performance.md). Process-wide, applied
  // once, at the first load that asks; left alone when the environment sets glibc's own
  // MALLOC_* tunables or GLIBC_TUNABLES (or SAM3RT_DEFAULT_MALLOC, for measuring).
  bool tune_allocator = true;

  // Semantics where transformers differs from Meta's original model (docs/semantics.md).
  // false (default) = Meta: a text-only prompt still runs the geometry encoder and gets
  // the image-conditioned CLS token. true = transformers' text-only path (no CLS).
  bool hf_text_only = false;
};

// Per call of ImageSession::segment.
struct SegmentOptions {
  // Keep instances whose score = sigmoid(logit) * sigmoid(presence) exceeds this.
  float score_threshold = 0.5f;
  // Suppress lower-scored instances whose mask IoU with a kept one exceeds nms_iou.
  bool nms = false;
  float nms_iou = 0.5f;
  // At most this many instances per prompt (0 = no limit).
  int max_instances = 0;
};

}  // namespace sam3rt
