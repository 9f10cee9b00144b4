// Model::load: a model loads whenever its weights match its config, and what it cannot
// serve is refused when it is asked; its CPU kernels are options of the model.
#include <gtest/gtest.h>

#include <ATen/ops/arange.h>
#include <ATen/ops/stack.h>

#include <string>

#include <sam3rt/sam3rt.h>

#include "pipeline/model_impl.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

at::Tensor picture(int64_t h = 96, int64_t w = 128) {
  at::Tensor y = at::arange(h, at::TensorOptions().dtype(at::kLong)).view({h, 1}).expand({h, w});
  at::Tensor x = at::arange(w, at::TensorOptions().dtype(at::kLong)).view({1, w}).expand({h, w});
  return at::stack({x.mul(2), y.mul(2), x.add(y)}, -1).remainder(256).to(at::kByte).contiguous();
}

std::shared_ptr<const Model> load(const std::string& dir, ModelOptions mo = {}) {
  mo.model_dir = dir;
  mo.num_threads = 1;
  return Model::load(mo);
}

// The tiny fixture's text encoder knows 100 tokens, CLIP's tokenizer 49408: the model
// still loads, answers clicks, and refuses a text prompt saying why.
TEST(ModelLoad, SmallTextVocabularyLoadsAndRefusesTextAtPromptTime) {
  const auto model = load(testing::data_path("sam3-tiny-seed0/sam3_video"));
  EXPECT_TRUE(model->can_segment_objects());
  ImageSession session(model);
  session.set_image(picture());
  ObjectPrompt click;
  click.points = {{40, 30}};
  const ObjectResult r = session.predict(click);
  EXPECT_EQ(r.candidates.size(), 3u);
  try {
    session.segment(ConceptPrompt{"shoe", {}});
    ADD_FAILURE() << "a text prompt on a 100-token text encoder was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("knows only 100 tokens"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot take text prompts"), std::string::npos) << e.what();
  }
}

// cpu_gemm picks the kernel of every linear layer; both give the same masks, and an
// unknown name is refused before anything is read.
TEST(ModelLoad, CpuKernelsAreModelOptions) {
  const std::string dir = testing::data_path("sam3-tiny-seed0/sam3_tracker");
  ModelOptions blas, own;
  blas.cpu_gemm = "blas";
  blas.fused_attention = false;
  own.cpu_gemm = "own";
  const auto a = load(dir, blas), b = load(dir, own);
  EXPECT_FALSE(model_impl(*a).placement.kernels.own_gemm);
  EXPECT_FALSE(model_impl(*a).placement.kernels.fused_attention);
  EXPECT_TRUE(model_impl(*b).placement.kernels.fused_attention);
  ImageSession sa(a), sb(b);
  sa.set_image(picture());
  sb.set_image(picture());
  ObjectPrompt click;
  click.points = {{50, 40}};
  const ObjectResult ra = sa.predict(click), rb = sb.predict(click);
  EXPECT_LT(testing::rel_l2(ra.low_res_logits, rb.low_res_logits), 1e-4);
  ModelOptions bad;
  bad.cpu_gemm = "mkl";
  try {
    load(dir, bad);
    ADD_FAILURE() << "cpu_gemm=mkl was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("unknown cpu_gemm 'mkl'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sam3rt
