// The fused attention kernel for AVX-512 (compiled with -mavx512f -mavx512dq -mfma; called
// only after fused_attention.cpp has checked the CPU).
// The vector traits V (nn/cpu/vec_avx512.h) mirror the AVX2 file's line for line by design
// (one kernel source, fused_attention_kernel.inc, instantiated per width).
#include "nn/cpu/vec_avx512.h"

namespace sam3rt::nn::cpu {
namespace {

using V = VecAvx512;

}  // namespace
}  // namespace sam3rt::nn::cpu

#include "nn/cpu/fused_attention_kernel.inc"

namespace sam3rt::nn::cpu {
void fused_attention_avx512(const AttentionProblem& p, int threads) { run(p, threads); }
}  // namespace sam3rt::nn::cpu
