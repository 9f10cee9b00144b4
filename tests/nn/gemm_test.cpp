#include "nn/cpu/gemm.h"

#include <ATen/Context.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/randn.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sam3rt::nn
