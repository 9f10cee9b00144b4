#include "nn/attention.h"

#include <ATen/Context.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>

#include "nn/cpu/fused_attention.h"

namespace sam3rt::nn {
namespace {

// softmax(q k^T * scale + bias) v in double precision, straight from the definition.
at::Tensor reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                     double scale) {
  at::Tensor s = at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(-2, -1)).mul(scale);
  if (bias.defined()) s = s.add(bias.to(at::kDouble));
  return at::matmul(at::softmax(s, -1), v.to(at::kDouble)).to(at::kFloat);
}

double rel_l2(const at::Tensor& a, const at::Tensor& b) {
  return a.to(at::kDouble).sub(b.to(at::kDouble)).norm().item<double>() /
         std::max(1e-30, b.to(at::kDouble).norm().item<double>());
}

struct Shape {
  int64_t B, H, Nq, Nk, d, dv;
};

// Sizes around the kernel's blocks (48 query rows, 256 keys, 6 / 3-4 row micro-kernels):
// tails of every kind, one key, one query, wide and narrow heads, value widths that are no
// multiple of the vector width (SAM 2 base-plus 56, large 72; 5, 44).
const Shape kShapes[] = {{1, 1, 1, 1, 32, 32},    {2, 3, 7, 5, 16, 16},     {1, 2, 48, 256, 32, 32},
                         {1, 2, 49, 257, 64, 64}, {2, 1, 100, 300, 24, 32}, {1, 4, 5, 700, 64, 64},
                         {1, 1, 300, 33, 128, 128}, {3, 2, 13, 511, 8, 16},  {1, 8, 577, 577, 32, 32},
                         {4, 1, 64, 64, 56, 56},  {2, 2, 49, 300, 72, 72}, {1, 3, 50, 70, 44, 44},
                         {1, 1, 9, 9, 3, 5}};

TEST(ScaledDotProductAttention, MatchesTheDefinitionOnAllShapes) {
  at::manual_seed(0);
  for (const Shape& s : kShapes) {
    const at::Tensor q = at::randn({s.B, s.H, s.Nq, s.d}), k = at::randn({s.B, s.H, s.Nk, s.d});
    const at::Tensor v = at::randn({s.B, s.H, s.Nk, s.dv});
    const double scale = 1.0 / std::sqrt(static_cast<double>(s.d));
    const at::Tensor out = scaled_dot_product_attention(q, k, v, {}, scale);
    ASSERT_EQ(out.sizes(), (std::vector<int64_t>{s.B, s.H, s.Nq, s.dv}));
    EXPECT_LT(rel_l2(out, reference(q, k, v, {}, scale)), 1e-6)
        << s.B << "x" << s.H << "x" << s.Nq << "x" << s.Nk << " d " << s.d << " dv " << s.dv;
  }
}

TEST(ScaledDotProductAttention, LargeScoresStayExact) {
  // Scores in the hundreds: the running maximum must rescale earlier key blocks.
  at::manual_seed(1);
  const at::Tensor q = at::randn({1, 2, 50, 32}).mul(6), k = at::randn({1, 2, 600, 32}).mul(6);
  const at::Tensor v = at::randn({1, 2, 600, 32});
  // Increasing keys: later blocks hold the maxima.
  const at::Tensor ramp = at::arange(600, at::kFloat).div(60).view({1, 1, 600, 1});
  const at::Tensor kr = k.add(ramp);
  const at::Tensor out = scaled_dot_product_attention(q, kr, v, {}, 1.0);
  // Scores of ~200 carry fp32 rounding of ~1e-5 into the exponent, hence the looser bound.
  EXPECT_LT(rel_l2(out, reference(q, kr, v, {}, 1.0)), 1e-5);
}

TEST(ScaledDotProductAttention, KeyMaskCausalAndBias) {
  at::manual_seed(2);
  const int64_t B = 2, H = 4, Nq = 60, Nk = 290, d = 32;
  const at::Tensor q = at::randn({B, H, Nq, d}), k = at::randn({B, H, Nk, d}), v = at::randn({B, H, Nk, d});
  at::Tensor valid = at::ones({B, Nk}, at::kBool);
  valid.select(0, 1).narrow(0, 200, 90).fill_(false);  // batch 1: the last 90 keys are padding
  const at::Tensor bias = at::randn({1, H, Nq, Nk});   // per head and query, shared by the batch
  AttentionMask mask;
  mask.key_valid = valid;
  mask.bias = bias;
  const at::Tensor out = scaled_dot_product_attention(q, k, v, mask, 0.2);
  const float neg = std::numeric_limits<float>::lowest();
  const at::Tensor additive =
      bias.add(at::zeros({B, 1, 1, Nk}).masked_fill(valid.logical_not().view({B, 1, 1, Nk}), neg));
  EXPECT_LT(rel_l2(out, reference(q, k, v, additive, 0.2)), 1e-6);

  AttentionMask causal;
  causal.causal = true;
  const at::Tensor qc = q.narrow(2, 0, 40), kc = k.narrow(2, 0, 40), vc = v.narrow(2, 0, 40);
  const at::Tensor tri = at::ones({40, 40}, at::kBool).triu(1);
  const at::Tensor cadd = at::zeros({1, 1, 40, 40}).masked_fill(tri.view({1, 1, 40, 40}), neg);
  EXPECT_LT(rel_l2(scaled_dot_product_attention(qc, kc, vc, causal, 0.3), reference(qc, kc, vc, cadd, 0.3)), 1e-6);
}

TEST(ScaledDotProductAttention, FullyMaskedRowIsUniformAsInTransformers) {
  // Every key invalid: the most negative finite mask makes the row an average of v.
  at::manual_seed(3);
  const at::Tensor q = at::randn({1, 2, 3, 16}), k = at::randn({1, 2, 20, 16}), v = at::randn({1, 2, 20, 16});
  AttentionMask mask;
  mask.key_valid = at::zeros({1, 20}, at::kBool);
  const at::Tensor out = scaled_dot_product_attention(q, k, v, mask, 0.25);
  const at::Tensor mean = v.mean(2, true).expand({1, 2, 3, 16});
  EXPECT_LT(rel_l2(out, mean), 1e-6);
}

TEST(ScaledDotProductAttention, StridedInputsAndTheUnfusedPathAgree) {
  // Heads split from [B, N, H*d] (strided rows), as the modules call it; double tensors
  // take the chunked path, whose result must agree.
  at::manual_seed(4);
  const at::Tensor x = at::randn({2, 130, 4 * 32});
  const at::Tensor qh = x.view({2, 130, 4, 32}).transpose(1, 2);
  const at::Tensor kh = x.flip(1).view({2, 130, 4, 32}).transpose(1, 2);
  const at::Tensor fused = scaled_dot_product_attention(qh, kh, qh, {}, 0.17);
  const at::Tensor chunked = scaled_dot_product_attention(qh.to(at::kDouble), kh.to(at::kDouble),
                                                          qh.to(at::kDouble), {}, 0.17, AttentionKernel{true, 1000});
  EXPECT_LT(rel_l2(fused, chunked), 1e-6);
  // The chunked path chosen explicitly (the model option fused_attention = false), in fp32.
  const at::Tensor unfused = scaled_dot_product_attention(qh, kh, qh, {}, 0.17, AttentionKernel{false, 1000});
  EXPECT_LT(rel_l2(unfused, chunked), 1e-6);
  EXPECT_LT(rel_l2(fused, reference(qh, kh, qh, {}, 0.17)), 1e-6);
}

#if defined(__x86_64__)
TEST(FusedAttention, BothInstructionSetsMatchTheDefinition) {
  at::manual_seed(5);
  const int64_t B = 1, H = 3, Nq = 97, Nk = 517, d = 64;
  __builtin_cpu_init();
  // Value widths of whole registers and with a tail (56, 72: SAM 2 base-plus and large).
  for (const int64_t dv : {32, 56, 72, 5}) {
  // V and the output are views into wider rows: the kernel must neither read past a V row
  // into the NaNs after it nor write past an output row into the sentinels.
  const at::Tensor q = at::randn({B, H, Nq, d}), k = at::randn({B, H, Nk, d});
  at::Tensor v_rows = at::randn({B, H, Nk, dv + 3});
  v_rows.narrow(3, dv, 3).fill_(std::numeric_limits<float>::quiet_NaN());
  const at::Tensor v = v_rows.narrow(3, 0, dv);
  const at::Tensor bias = at::randn({B, 1, 1, Nk});
  const at::Tensor ref = reference(q, k, v.contiguous(), bias, 0.125);
  for (const char* isa : {"avx512", "avx2"}) {
    if (std::string(isa) == "avx512" ? !__builtin_cpu_supports("avx512f") : !__builtin_cpu_supports("avx2")) {
      continue;
    }
    for (int threads : {1, 3}) {
      at::Tensor out_rows = at::full({B, H, Nq, dv + 3}, 7.0f);
      at::Tensor out = out_rows.narrow(3, 0, dv);
      cpu::AttentionProblem p;
      p.batch = B, p.heads = H, p.num_queries = Nq, p.num_keys = Nk, p.head_dim = d, p.value_dim = dv;
      p.scale = 0.125f;
      p.q = q.data_ptr<float>(), p.k = k.data_ptr<float>(), p.v = v.data_ptr<float>();
      p.out = out.data_ptr<float>();
      p.bias = bias.data_ptr<float>();
      for (int i = 0; i < 3; ++i) {
        p.q_stride[i] = q.stride(i), p.k_stride[i] = k.stride(i), p.v_stride[i] = v.stride(i);
        p.out_stride[i] = out.stride(i);
      }
      p.bias_stride[0] = 0, p.bias_stride[1] = 0, p.bias_stride[2] = 0, p.bias_stride[3] = 1;
      if (std::string(isa) == "avx512") {
        cpu::fused_attention_avx512(p, threads);
      } else {
        cpu::fused_attention_avx2(p, threads);
      }
      EXPECT_LT(rel_l2(out, ref), 1e-6) << isa << " threads " << threads << " dv " << dv;
      EXPECT_TRUE(out_rows.narrow(3, dv, 3).eq(7.0f).all().item<bool>()) << isa << " dv " << dv << " wrote past a row";
    }
  }
  }
}

// The bf16-product kernel against the definition on the bf16-rounded inputs (q * scale, k,
// v): what remains is float32 accumulation and the rounding of the probabilities to bf16
// (relative 2^-9 each), so about 1e-3; against the unrounded fp32 definition about 1e-2.
TEST(FusedAttention, Bf16ProductsMatchTheRoundedDefinition) {
  if (!cpu::fused_attention_bf16_available()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  at::manual_seed(6);
  auto round = [](const at::Tensor& t) { return t.to(at::kBFloat16).to(at::kFloat); };
  for (const Shape& s : kShapes) {
    const at::Tensor q = at::randn({s.B, s.H, s.Nq, s.d}), k = at::randn({s.B, s.H, s.Nk, s.d});
    at::Tensor v_rows = at::randn({s.B, s.H, s.Nk, s.dv + 3});
    v_rows.narrow(3, s.dv, 3).fill_(std::numeric_limits<float>::quiet_NaN());
    const at::Tensor v = v_rows.narrow(3, 0, s.dv);
    const at::Tensor bias = at::randn({s.B, 1, 1, s.Nk});
    const double scale = 1.0 / std::sqrt(static_cast<double>(s.d));
    const at::Tensor ref_rounded = reference(round(q.mul(scale)), round(k), round(v.contiguous()), bias, 1.0);
    const at::Tensor ref = reference(q, k, v.contiguous(), bias, scale);
    for (int threads : {1, 3}) {
      at::Tensor out_rows = at::full({s.B, s.H, s.Nq, s.dv + 3}, 7.0f);
      at::Tensor out = out_rows.narrow(3, 0, s.dv);
      cpu::AttentionProblem p;
      p.batch = s.B, p.heads = s.H, p.num_queries = s.Nq, p.num_keys = s.Nk, p.head_dim = s.d, p.value_dim = s.dv;
      p.scale = static_cast<float>(scale);
      p.bf16_products = true;
      p.q = q.data_ptr<float>(), p.k = k.data_ptr<float>(), p.v = v.data_ptr<float>();
      p.out = out.data_ptr<float>();
      p.bias = bias.data_ptr<float>();
      for (int i = 0; i < 3; ++i) {
        p.q_stride[i] = q.stride(i), p.k_stride[i] = k.stride(i), p.v_stride[i] = v.stride(i);
        p.out_stride[i] = out.stride(i);
      }
      p.bias_stride[0] = bias.stride(0), p.bias_stride[3] = 1;
      cpu::fused_attention(p, threads);
      const std::string what = std::to_string(s.B) + "x" + std::to_string(s.H) + "x" + std::to_string(s.Nq) + "x" +
                               std::to_string(s.Nk) + " d " + std::to_string(s.d) + " dv " + std::to_string(s.dv);
      EXPECT_LT(rel_l2(out, ref_rounded), 4e-3) << what << " threads " << threads;
      EXPECT_LT(rel_l2(out, ref), 2e-2) << what << " threads " << threads;
      EXPECT_TRUE(out_rows.narrow(3, s.dv, 3).eq(7.0f).all().item<bool>()) << what << " wrote past a row";
    }
  }
}

// Through scaled_dot_product_attention: the kernel choice of a bf16 CPU placement.
TEST(FusedAttention, Bf16PlacementChoosesTheBf16Kernel) {
  io::Placement p;
  p.matmul_dtype = at::kBFloat16;
  EXPECT_TRUE(attention_kernel(p).bf16_cpu);
  p.matmul_dtype = at::kFloat;
  EXPECT_FALSE(attention_kernel(p).bf16_cpu);
  if (!cpu::fused_attention_bf16_available()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  at::manual_seed(7);
  const at::Tensor q = at::randn({1, 2, 50, 64}), k = at::randn({1, 2, 300, 64}), v = at::randn({1, 2, 300, 64});
  AttentionKernel kb;
  kb.bf16_cpu = true;
  const at::Tensor o16 = scaled_dot_product_attention(q, k, v, {}, 0.125, kb);
  const at::Tensor o32 = scaled_dot_product_attention(q, k, v, {}, 0.125, AttentionKernel{});
  const double d = rel_l2(o16, o32);
  EXPECT_GT(d, 1e-5);  // really the bf16 kernel: not bit-equal to fp32
  EXPECT_LT(d, 2e-2);
}
#endif

}  // namespace
}  // namespace sam3rt::nn
