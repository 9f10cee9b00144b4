// Binding weights by checkpoint name: present, missing and mis-shaped keys, one report of
// every problem, float16/bfloat16 checkpoints converted to float32, declare-only mode,
// and the same over a real safetensors file.
#include "testing/errors.h"
#include "io/weights.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "sam3rt/error.h"

namespace sam3rt::io {
namespace {

using Shape = std::vector<int64_t>;

using testing::expect_error;

at::Tensor ramp(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return at::arange(0, n, at::kFloat).mul(0.25).reshape(shape);
}

// A placeholder: the expected shape and dtype, all zeros.
void expect_placeholder(const at::Tensor& t, const Shape& shape, at::ScalarType type = at::kFloat) {
  EXPECT_EQ(t.sizes().vec(), shape);
  EXPECT_EQ(t.scalar_type(), type);
  EXPECT_TRUE(at::equal(t, at::zeros(shape, at::TensorOptions().dtype(type))));
}

TEST(WeightStoreTest, TakesPresentKeysByScopedName) {
  const at::Tensor q = ramp({4, 4}), bias = ramp({4});
  WeightStore store(std::map<std::string, at::Tensor>{
      {"detector_model.detr_encoder.layers.0.self_attn.q_proj.weight", q},
      {"detector_model.detr_encoder.layers.0.self_attn.q_proj.bias", bias}});
  WeightScope layer = store.scope("detector_model.detr_encoder").sub("layers", 0);
  EXPECT_EQ(layer.prefix(), "detector_model.detr_encoder.layers.0");
  WeightScope attn = layer.sub("self_attn");
  EXPECT_EQ(attn.key("q_proj.weight"), "detector_model.detr_encoder.layers.0.self_attn.q_proj.weight");

  const at::Tensor w = attn.take("q_proj.weight", {4, 4});
  const at::Tensor b = attn.take("q_proj.bias", {4});
  // The stored tensors themselves, not copies.
  EXPECT_EQ(w.data_ptr(), q.data_ptr());
  EXPECT_EQ(b.data_ptr(), bias.data_ptr());
  EXPECT_TRUE(store.problems().empty());
  EXPECT_NO_THROW(store.finish("mem"));
  ASSERT_EQ(store.expected().size(), 2u);
  EXPECT_EQ(store.expected()[0].name, "detector_model.detr_encoder.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(store.expected()[0].shape, (Shape{4, 4}));
  EXPECT_EQ(store.expected()[1].name, "detector_model.detr_encoder.layers.0.self_attn.q_proj.bias");
  EXPECT_FALSE(store.declare_only_mode());
}

TEST(WeightStoreTest, EmptyPrefixUsesTheLeafAsKey) {
  WeightStore store(std::map<std::string, at::Tensor>{{"logit_scale", at::ones({})}});
  WeightScope top = store.scope();
  EXPECT_EQ(top.key("logit_scale"), "logit_scale");
  EXPECT_EQ(top.sub("blocks", 3).key("w"), "blocks.3.w");
  const at::Tensor s = top.take("logit_scale", {});
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<float>(), 1.0f);
  store.finish("mem");
}

TEST(WeightStoreTest, MissingKeyGivesAPlaceholderAndIsReported) {
  WeightStore store(std::map<std::string, at::Tensor>{});
  WeightScope s = store.scope("m");
  const at::Tensor w = s.take("weight", {3, 5});
  expect_placeholder(w, {3, 5});
  const at::Tensor scalar = s.take("scale", {});  // 0-d shapes work too
  expect_placeholder(scalar, {});
  const auto problems = store.problems();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0], "missing m.weight [3, 5]");
  EXPECT_EQ(problems[1], "missing m.scale []");
}

TEST(WeightStoreTest, MisShapedKeyGivesAPlaceholderAndIsReported) {
  WeightStore store(std::map<std::string, at::Tensor>{{"m.weight", ramp({5, 3})}});
  const at::Tensor w = store.scope("m").take("weight", {3, 5});
  expect_placeholder(w, {3, 5});
  const auto problems = store.problems();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "mismatch m.weight: expected shape [3, 5], found [5, 3]");
}

TEST(WeightStoreTest, FinishListsEveryProblemAtOnce) {
  WeightStore store(std::map<std::string, at::Tensor>{
      {"enc.ok", ramp({2})},
      {"enc.wrong_shape", ramp({2, 3})},
      {"enc.wrong_dtype", at::zeros({2}, at::kInt)},
      {"enc.leftover_a", ramp({7})},
      {"zz.leftover_b", ramp({1, 1})}});
  WeightScope enc = store.scope("enc");
  enc.take("ok", {2});
  enc.take("wrong_shape", {3, 2});
  enc.take("wrong_dtype", {2}, DType::kI64);
  enc.take("absent_1", {8});
  enc.sub("deep", 2).take("absent_2", {1, 2, 3});
  enc.take("ok", {2});  // a module declaring the same key twice

  const std::string msg = expect_error(ErrorCode::kCorruption, [&] { store.finish("ckpt.safetensors"); });
  EXPECT_EQ(msg.rfind("ckpt.safetensors: checkpoint does not match the model config (7 problems):", 0), 0u) << msg;
  for (const std::string line : {"missing enc.absent_1 [8]", "missing enc.deep.2.absent_2 [1, 2, 3]",
                                 "mismatch enc.wrong_shape: expected shape [3, 2], found [2, 3]",
                                 "mismatch enc.wrong_dtype: expected dtype I64, found I32",
                                 "mismatch enc.ok: bound twice", "unexpected enc.leftover_a [7]",
                                 "unexpected zz.leftover_b [1, 1]"}) {
    EXPECT_NE(msg.find("\n  " + line), std::string::npos) << "'" << line << "' not in:\n" << msg;
  }
  EXPECT_EQ(msg.find("enc.ok ["), std::string::npos) << "a matched key is listed:\n" << msg;
  EXPECT_EQ(store.problems().size(), 7u);
}

TEST(WeightStoreTest, FinishShortensVeryLongLists) {
  WeightStore store(std::map<std::string, at::Tensor>{});
  for (int i = 0; i < 250; ++i) store.scope("layers").sub("w", i).take("x", {1});
  const std::string msg = expect_error(ErrorCode::kCorruption, [&] { store.finish("mem"); });
  EXPECT_NE(msg.find("(250 problems)"), std::string::npos);
  EXPECT_NE(msg.find("missing layers.w.199.x [1]"), std::string::npos);
  EXPECT_EQ(msg.find("missing layers.w.200.x"), std::string::npos);
  EXPECT_NE(msg.find("... and 50 more"), std::string::npos) << msg.substr(msg.size() - 200);
}

TEST(WeightStoreTest, HalfPrecisionWeightsAreConvertedToFloat32) {
  const at::Tensor values = at::arange(-8, 8, at::kFloat).mul(0.375).reshape({4, 4});  // exact in f16 and bf16
  WeightStore store(std::map<std::string, at::Tensor>{{"h", values.to(at::kHalf)}, {"b", values.to(at::kBFloat16)}});
  for (const char* key : {"h", "b"}) {
    SCOPED_TRACE(key);
    const at::Tensor t = store.scope().take(key, {4, 4});
    EXPECT_EQ(t.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(t, values));
  }
  EXPECT_TRUE(store.problems().empty());
  // Non-float dtypes are never converted.
  WeightStore ints(std::map<std::string, at::Tensor>{{"i", at::zeros({2}, at::kLong)}});
  expect_placeholder(ints.scope().take("i", {2}), {2});
  ASSERT_EQ(ints.problems().size(), 1u);
  EXPECT_EQ(ints.problems()[0], "mismatch i: expected dtype F32, found I64");
}

TEST(WeightStoreTest, DeclareOnlyRecordsExpectedKeysAndGivesPlaceholders) {
  WeightStore store = WeightStore::declare_only();
  EXPECT_TRUE(store.declare_only_mode());
  WeightScope vit = store.scope("detector_model.vision_encoder.backbone");
  const at::Tensor patch = vit.sub("embeddings.patch_embeddings.projection").take("weight", {1024, 3, 14, 14});
  const at::Tensor pos = vit.take("position_ids", {1, 577}, DType::kI64);
  const at::Tensor bias = vit.sub("layers", 31).sub("attention.qkv").take("bias", {3072});

  expect_placeholder(patch, {1024, 3, 14, 14});
  expect_placeholder(pos, {1, 577}, at::kLong);
  expect_placeholder(bias, {3072});
  // Placeholders do not allocate their full size.
  EXPECT_EQ(patch.storage().nbytes(), sizeof(float));

  const auto& e = store.expected();
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].name, "detector_model.vision_encoder.backbone.embeddings.patch_embeddings.projection.weight");
  EXPECT_EQ(e[0].shape, (Shape{1024, 3, 14, 14}));
  EXPECT_EQ(e[0].dtype, DType::kF32);
  EXPECT_EQ(e[1].name, "detector_model.vision_encoder.backbone.position_ids");
  EXPECT_EQ(e[1].shape, (Shape{1, 577}));
  EXPECT_EQ(e[1].dtype, DType::kI64);
  EXPECT_EQ(e[2].name, "detector_model.vision_encoder.backbone.layers.31.attention.qkv.bias");
  EXPECT_EQ(e[2].shape, (Shape{3072}));
  EXPECT_TRUE(store.problems().empty());
  EXPECT_NO_THROW(store.finish("declare"));
}

class WeightStoreFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("sam3rt_weights_test_" + std::to_string(::getpid()) + ".safetensors"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
};

TEST_F(WeightStoreFileTest, BindsZeroCopyViewsAndReportsUnclaimedKeys) {
  write_safetensors(path_, {{"net.a.weight", ramp({2, 3})},
                            {"net.a.bias", ramp({2}).to(at::kBFloat16)},
                            {"net.b.weight", ramp({4})},
                            {"net.extra", ramp({5})}});
  auto file = SafetensorsFile::open(path_);
  WeightStore store(file);
  WeightScope net = store.scope("net");
  const at::Tensor w = net.sub("a").take("weight", {2, 3});
  EXPECT_EQ(w.data_ptr(), file->tensor("net.a.weight").data_ptr());  // a view of the mapping
  EXPECT_TRUE(at::equal(w, ramp({2, 3})));
  const at::Tensor b = net.sub("a").take("bias", {2});
  EXPECT_EQ(b.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(b, ramp({2})));
  expect_placeholder(net.sub("b").take("weight", {2, 2}), {2, 2});
  expect_placeholder(net.sub("c").take("weight", {1}), {1});

  const std::string msg = expect_error(ErrorCode::kCorruption, [&] { store.finish(path_); });
  EXPECT_EQ(msg.rfind(path_ + ": checkpoint does not match the model config (3 problems):", 0), 0u) << msg;
  EXPECT_NE(msg.find("\n  missing net.c.weight [1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\n  mismatch net.b.weight: expected shape [2, 2], found [4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\n  unexpected net.extra [5]"), std::string::npos) << msg;
}

}  // namespace
}  // namespace sam3rt::io
