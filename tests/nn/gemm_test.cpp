#include "nn/cpu/gemm.h"

#include <ATen/Context.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "nn/layers.h"

namespace sam3rt::nn {
namespace {

double rel_l2(const at::Tensor& a, const at::Tensor& b) {
  return a.to(at::kDouble).sub(b.to(at::kDouble)).norm().item<double>() / b.to(at::kDouble).norm().item<double>();
}

TEST(Gemm, MatchesDoublePrecisionOnTailsStridesBiasAndAccumulation) {
  if (!cpu::gemm_available()) GTEST_SKIP() << "no AVX-512 on this CPU";
  at::manual_seed(0);
  struct Shape {
    int64_t M, N, K;
  };
  // Around the blocks (12 x 32 tiles, depth 256, 192 rows, 512 columns) and off them.
  for (const Shape s : {Shape{1, 1, 1}, Shape{12, 32, 256}, Shape{13, 33, 257}, Shape{200, 520, 300},
                        Shape{385, 1030, 70}, Shape{48, 4096, 1024}}) {
    for (int threads : {1, 2, 5}) {
      // A as a column slice of a wider matrix (row stride > K), C likewise.
      const at::Tensor a_wide = at::randn({s.M, s.K + 3});
      const at::Tensor a = a_wide.narrow(1, 1, s.K);
      const at::Tensor w = at::randn({s.N, s.K}), bias = at::randn({s.N});
      at::Tensor c_wide = at::randn({s.M, s.N + 5});
      at::Tensor c = c_wide.narrow(1, 2, s.N);
      const at::Tensor c0 = c.clone();
      const at::Tensor ref = at::matmul(a.to(at::kDouble), w.to(at::kDouble).t()).add(bias.to(at::kDouble));
      cpu::gemm_abt(s.M, s.N, s.K, a.data_ptr<float>(), a.stride(0), w.data_ptr<float>(), w.stride(0),
                    bias.data_ptr<float>(), c.data_ptr<float>(), c.stride(0), false, threads);
      EXPECT_LT(rel_l2(c, ref), 1e-6) << s.M << "x" << s.N << "x" << s.K << " threads " << threads;
      // Accumulate, no bias: C += A W^T.
      c.copy_(c0);
      cpu::gemm_abt(s.M, s.N, s.K, a.data_ptr<float>(), a.stride(0), w.data_ptr<float>(), w.stride(0), nullptr,
                    c.data_ptr<float>(), c.stride(0), true, threads);
      const at::Tensor ref_acc = at::matmul(a.to(at::kDouble), w.to(at::kDouble).t()).add(c0.to(at::kDouble));
      EXPECT_LT(rel_l2(c, ref_acc), 1e-6) << s.M << "x" << s.N << "x" << s.K << " threads " << threads;
      // The columns beside C are untouched.
      EXPECT_TRUE(c_wide.narrow(1, 0, 2).equal(c_wide.narrow(1, 0, 2)));
    }
  }
}

TEST(Gemm, LinearForwardAndAccumulateAgreeWithTheDefinition) {
  at::manual_seed(1);
  std::map<std::string, at::Tensor> t{{"l.weight", at::randn({96, 64})}, {"l.bias", at::randn({96})}};
  io::WeightStore store(t);
  const Linear l(store.scope("l"), 64, 96);
  const at::Tensor x = at::randn({3, 700, 64});  // 2100 rows: the own-GEMM path where it exists
  const at::Tensor ref = at::matmul(x.to(at::kDouble), t["l.weight"].to(at::kDouble).t()).add(t["l.bias"].to(at::kDouble));
  EXPECT_LT(rel_l2(l.forward(x), ref), 1e-6);
  at::Tensor y = at::randn({2100, 96});
  const at::Tensor y0 = y.clone();
  l.accumulate_into(y, x.view({2100, 64}));
  EXPECT_LT(rel_l2(y, ref.view({2100, 96}).add(y0.to(at::kDouble))), 1e-6);
}

// The flags line of /proc/cpuinfo ("" where there is none).
std::string cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) return line + " ";
  }
  return "";
}

TEST(Bf16Gemm, CpuFeaturesAgreeWithTheKernelsView) {
  const std::string flags = cpuinfo_flags();
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags here";
  const cpu::Bf16Support s = cpu::bf16_support();
  EXPECT_EQ(s.avx512_bf16, flags.find(" avx512_bf16 ") != std::string::npos) << flags;
  EXPECT_EQ(s.amx_bf16, flags.find(" amx_bf16 ") != std::string::npos && flags.find(" amx_tile ") != std::string::npos)
      << flags;
}

TEST(Bf16Gemm, ConversionRoundsLikeATen) {
  if (!cpu::gemm_bf16_available()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  at::manual_seed(2);
  for (int64_t n : {1, 15, 16, 17, 31, 32, 33, 100, 1029}) {
    // Values straddling bf16's rounding points, and ties (x.5 ulp exactly).
    at::Tensor x = at::randn({n}).mul(1000.0);
    if (n > 4) {
      x[0] = 1.0f + 1.0f / 256.0f;  // a tie, rounds to even (1.0)
      x[1] = 1.0f + 3.0f / 256.0f;  // a tie, rounds to even (1 + 4/256)
      x[2] = -0.0f;
      x[3] = 3.0e38f;
    }
    at::Tensor out = at::empty({n}, at::kBFloat16);
    cpu::convert_to_bf16(x.data_ptr<float>(), reinterpret_cast<uint16_t*>(out.data_ptr()), n);
    EXPECT_TRUE(out.view(at::kShort).equal(x.to(at::kBFloat16).view(at::kShort))) << "n " << n;
  }
}

TEST(Bf16Gemm, MatchesTheExactProductOfRoundedInputs) {
  if (!cpu::gemm_bf16_available()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  at::manual_seed(3);
  struct Shape {
    int64_t M, N, K;
  };
  // Around the blocks (12 x 32 tiles, 256 depth pairs, 192 rows, 512 columns), odd depths.
  for (const Shape s : {Shape{1, 1, 1}, Shape{12, 32, 512}, Shape{13, 33, 513}, Shape{200, 520, 301},
                        Shape{385, 1030, 70}, Shape{48, 4096, 1024}, Shape{7, 40, 3}}) {
    for (int threads : {1, 2, 5}) {
      const at::Tensor a_wide = at::randn({s.M, s.K + 3});
      const at::Tensor a = a_wide.narrow(1, 1, s.K);
      const at::Tensor w = at::randn({s.N, s.K}).to(at::kBFloat16), bias = at::randn({s.N});
      at::Tensor c_wide = at::randn({s.M, s.N + 5});
      at::Tensor c = c_wide.narrow(1, 2, s.N);
      const at::Tensor c0 = c.clone();
      // bf16 x bf16 products are exact in float32; only the float32 sums round.
      const at::Tensor ref =
          at::matmul(a.to(at::kBFloat16).to(at::kDouble), w.to(at::kDouble).t()).add(bias.to(at::kDouble));
      const auto* wp = reinterpret_cast<const uint16_t*>(w.data_ptr());
      cpu::gemm_abt_bf16(s.M, s.N, s.K, a.data_ptr<float>(), a.stride(0), wp, w.stride(0), bias.data_ptr<float>(),
                         c.data_ptr<float>(), c.stride(0), false, threads);
      EXPECT_LT(rel_l2(c, ref), 2e-6) << s.M << "x" << s.N << "x" << s.K << " threads " << threads;
      c.copy_(c0);
      cpu::gemm_abt_bf16(s.M, s.N, s.K, a.data_ptr<float>(), a.stride(0), wp, w.stride(0), nullptr,
                         c.data_ptr<float>(), c.stride(0), true, threads);
      const at::Tensor ref_acc =
          at::matmul(a.to(at::kBFloat16).to(at::kDouble), w.to(at::kDouble).t()).add(c0.to(at::kDouble));
      EXPECT_LT(rel_l2(c, ref_acc), 2e-6) << s.M << "x" << s.N << "x" << s.K << " threads " << threads;
    }
  }
}

// A bf16 linear layer on each CPU path agrees with the exact product of its rounded inputs
// (the own GEMM keeps float32 outputs; ATen's bf16 product rounds them to bf16).
TEST(Bf16Gemm, LinearOnEachPathAgreesWithTheRoundedDefinition) {
  at::manual_seed(4);
  std::map<std::string, at::Tensor> t{{"l.weight", at::randn({96, 64})}, {"l.bias", at::randn({96})}};
  io::WeightStore store(t);
  io::Placement p;
  p.matmul_dtype = at::kBFloat16;
  const at::Tensor x = at::randn({3, 700, 64});
  const at::Tensor ref = at::matmul(x.to(at::kBFloat16).to(at::kDouble),
                                    t["l.weight"].to(at::kBFloat16).to(at::kDouble).t())
                             .add(t["l.bias"].to(at::kBFloat16).to(at::kDouble));
  for (bool own : {false, true}) {
    if (own && !cpu::gemm_bf16_available()) continue;
    p.kernels.own_bf16_gemm = own;
    store.set_placement(p);
    const Linear l(store.scope("l"), 64, 96);
    ASSERT_EQ(l.weight.scalar_type(), at::kBFloat16);
    const at::Tensor y = l.forward(x);
    EXPECT_EQ(y.scalar_type(), at::kFloat);
    EXPECT_LT(rel_l2(y, ref), own ? 2e-6 : 8e-3) << (own ? "own" : "aten");
    at::Tensor acc = at::zeros({2100, 96});
    l.accumulate_into(acc, x.view({2100, 64}));
    EXPECT_LT(rel_l2(acc, ref.view({2100, 96})), own ? 2e-6 : 8e-3) << (own ? "own" : "aten");
  }
}

// ATen's bf16 product runs on AMX tiles (oneDNN) where the CPU has them: it must give the
// product of the rounded inputs to within its bf16 output rounding.
TEST(Bf16Gemm, AtenProductOnAmxTiles) {
  if (!cpu::bf16_support().amx_bf16) GTEST_SKIP() << "no AMX-BF16 on this CPU: the AMX case is not run here";
  at::manual_seed(5);
  const at::Tensor a = at::randn({512, 1024}).to(at::kBFloat16), w = at::randn({768, 1024}).to(at::kBFloat16);
  const at::Tensor ref = at::matmul(a.to(at::kDouble), w.to(at::kDouble).t());
  EXPECT_LT(rel_l2(at::matmul(a, w.t()), ref), 8e-3);
}

}  // namespace
}  // namespace sam3rt::nn
