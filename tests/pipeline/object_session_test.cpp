// Object (interactive) segmentation through the public API: ImageSession::predict on a
// small random sam3_video checkpoint (the published layout: the tracker shares the
// detector's ViT) and on the sam3_tracker fixture layout. Checks shapes, candidate
// selection by IoU, masks = upsampled low-resolution logits > 0, coordinate scaling to the
// model input (against the tracker called directly), refinement with the previous
// logits, the shared ViT, and the errors for bad prompts.
#include <gtest/gtest.h>

#include <ATen/ops/arange.h>
#include <ATen/ops/argmax.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/upsample_bilinear2d.h>
#include <ATen/ops/zeros.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <sam3rt/sam3rt.h>

#include "testing/errors.h"
#include "models/tracker/tracker.h"
#include "pipeline/model_impl.h"
#include "pipeline/preprocess.h"
#include "pipeline/random_checkpoint.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

namespace fs = std::filesystem;

// A tiny config of the given layout from the fixture's, with the text vocabulary widened
// to CLIP's 49408 tokens so that Model::load accepts the bundled tokenizer.
std::string write_random_model(const std::string& fixture_layout, const std::string& name) {
  std::ifstream in(testing::data_path("sam3-tiny-seed0/" + fixture_layout + "/config.json"));
  nlohmann::json j = nlohmann::json::parse(in);
  nlohmann::json& text = fixture_layout == "sam3_video" ? j["detector_config"]["text_config"] : j["text_config"];
  text["vocab_size"] = 49408;
  const fs::path dir = fs::temp_directory_path() / ("sam3rt_object_test_" + name + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path config = dir / "input_config.json";
  std::ofstream(config) << j.dump(2);
  pipeline::RandomCheckpointOptions o;
  o.seed = 7;
  pipeline::make_random_checkpoint(config.string(), (dir / "model").string(), o);
  return (dir / "model").string();
}

// A deterministic 160 x 120 RGB picture: a gradient with a bright square.
at::Tensor test_image(int64_t h = 120, int64_t w = 160) {
  at::Tensor y = at::arange(h, at::TensorOptions().dtype(at::kLong)).view({h, 1}).expand({h, w});
  at::Tensor x = at::arange(w, at::TensorOptions().dtype(at::kLong)).view({1, w}).expand({h, w});
  at::Tensor r = x.mul(255).div(w, "floor");
  at::Tensor g = y.mul(255).div(h, "floor");
  at::Tensor b = x.add(y).mul(7).remainder(256);
  at::Tensor rgb = at::stack({r, g, b}, -1).to(at::kByte).contiguous();
  rgb.narrow(0, h / 4, h / 3).narrow(1, w / 3, w / 4).fill_(240);
  return rgb;
}

using testing::expect_error;

class ObjectSession : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    video_dir_ = new std::string(write_random_model("sam3_video", "video"));
    ModelOptions mo;
    mo.model_dir = *video_dir_;
    video_ = new std::shared_ptr<const Model>(Model::load(mo));
  }
  static void TearDownTestSuite() {
    delete video_;
    std::error_code ec;
    fs::remove_all(fs::path(*video_dir_).parent_path(), ec);
    delete video_dir_;
  }
  static const std::shared_ptr<const Model>& model() { return *video_; }

  static std::string* video_dir_;
  static std::shared_ptr<const Model>* video_;
};
std::string* ObjectSession::video_dir_ = nullptr;
std::shared_ptr<const Model>* ObjectSession::video_ = nullptr;

TEST_F(ObjectSession, ModelReportsTracker) {
  EXPECT_EQ(model()->type_name(), "sam3_video");
  EXPECT_TRUE(model()->can_segment_objects());
  EXPECT_TRUE(model()->can_segment_concepts());
  EXPECT_TRUE(model()->has_random_weights());
  const int64_t G = model_impl(*model()).modules->tracker->prompt_encoder.grid();
  EXPECT_EQ(model()->low_res_mask_size(), 4 * G);
}

// One click, multimask: three candidates at the image size, best = highest IoU, masks =
// bilinear upsampling of the returned logits > 0, boxes and areas from the masks.
TEST_F(ObjectSession, MultimaskCandidates) {
  const at::Tensor rgb = test_image();
  ImageSession s(model());
  s.set_image(rgb);
  ObjectPrompt p;
  p.points = {{70.0f, 45.0f}};
  const ObjectResult r = s.predict(p);
  const int64_t L = model()->low_res_mask_size();
  const int64_t M = model_impl(*model()).config.tracker->mask_decoder.num_multimask_outputs;
  EXPECT_EQ(r.width, 160);
  EXPECT_EQ(r.height, 120);
  ASSERT_EQ(static_cast<int64_t>(r.candidates.size()), M);
  ASSERT_EQ(r.low_res_logits.sizes(), (std::vector<int64_t>{M, L, L}));
  EXPECT_EQ(r.low_res_logits.scalar_type(), at::kFloat);

  // The random model's masks are neither empty nor full, so the mask checks below bite.
  int partial = 0;
  for (const auto& c : r.candidates) partial += (c.area > 0 && c.area < 120 * 160) ? 1 : 0;
  EXPECT_GT(partial, 0);
  int best = 0;
  for (int i = 0; i < M; ++i) {
    if (r.candidates[i].iou > r.candidates[best].iou) best = i;
  }
  EXPECT_EQ(r.best, best);
  const at::Tensor up = at::upsample_bilinear2d(r.low_res_logits.unsqueeze(1), {120, 160}, false).squeeze(1);
  for (int i = 0; i < M; ++i) {
    const ObjectMask& c = r.candidates[i];
    ASSERT_EQ(c.mask.sizes(), (std::vector<int64_t>{120, 160}));
    EXPECT_EQ(c.mask.scalar_type(), at::kBool);
    EXPECT_TRUE(at::equal(c.mask, up[i].gt(0))) << "candidate " << i;
    EXPECT_EQ(c.area, c.mask.sum().item<int64_t>());
    EXPECT_TRUE(std::isfinite(c.iou));
    EXPECT_GT(c.object_score, 0.0f);
    EXPECT_LT(c.object_score, 1.0f);
    EXPECT_EQ(c.object_score, r.candidates[0].object_score);
    if (c.area > 0) {
      // The tight box holds every mask pixel, and its edges touch the mask.
      const at::Tensor cols = c.mask.any(0), rows = c.mask.any(1);
      EXPECT_TRUE(cols[static_cast<int64_t>(c.box.x1)].item<bool>());
      EXPECT_TRUE(cols[static_cast<int64_t>(c.box.x2) - 1].item<bool>());
      EXPECT_TRUE(rows[static_cast<int64_t>(c.box.y1)].item<bool>());
      EXPECT_TRUE(rows[static_cast<int64_t>(c.box.y2) - 1].item<bool>());
      const auto x1 = static_cast<int64_t>(c.box.x1), y1 = static_cast<int64_t>(c.box.y1);
      const auto x2 = static_cast<int64_t>(c.box.x2), y2 = static_cast<int64_t>(c.box.y2);
      EXPECT_EQ(c.mask.narrow(0, y1, y2 - y1).narrow(1, x1, x2 - x1).sum().item<int64_t>(), c.area);
    } else {
      EXPECT_EQ(c.box.x2, 0.0f);
    }
  }
  EXPECT_TRUE(r.timings_ms.count("vision_encoder"));
  EXPECT_TRUE(r.timings_ms.count("tracker_decoder"));
  EXPECT_TRUE(r.timings_ms.count("tracker_neck"));

  p.multimask = false;
  const ObjectResult one = s.predict(p);
  ASSERT_EQ(one.candidates.size(), 1u);
  EXPECT_EQ(one.best, 0);
  EXPECT_EQ(one.low_res_logits.sizes(), (std::vector<int64_t>{1, L, L}));
}

// The session equals the tracker called directly on the preprocessed image with the
// points scaled to the model input (x * S / W, y * S / H) and Meta's pixel features.
TEST_F(ObjectSession, MatchesTrackerOnScaledPrompt) {
  const at::Tensor rgb = test_image();
  const auto& m = *model_impl(*model()).modules;
  const double S = static_cast<double>(m.tracker->prompt_encoder.config().image_size);
  models::TrackerImageOptions meta;
  meta.add_no_memory_embedding = true;
  const models::TrackerImageFeatures f =
      models::encode_tracker_image(*m.tracker, *m.frame_encoder, pipeline::preprocess_image(rgb, model()->image_size()), meta);

  ImageSession s(model());
  s.set_image(rgb);
  ObjectPrompt p;
  p.points = {{40.0f, 30.0f}, {100.0f, 90.0f, false}};
  p.box = Box{20.0f, 10.0f, 130.0f, 100.0f};
  p.multimask = false;
  const ObjectResult r = s.predict(p);

  models::TrackerPrompts tp;
  const float sx = static_cast<float>(S / 160), sy = static_cast<float>(S / 120);
  tp.points = at::tensor(std::vector<float>{40 * sx, 30 * sy, 100 * sx, 90 * sy}).view({1, 1, 2, 2});
  tp.labels = at::tensor(std::vector<int64_t>{1, 0}).view({1, 1, 2});
  tp.boxes = at::tensor(std::vector<float>{20 * sx, 10 * sy, 130 * sx, 100 * sy}).view({1, 1, 4});
  const models::TrackerPrediction direct = models::predict_tracker(*m.tracker, f, tp, false);
  SAM3RT_EXPECT_CLOSE(r.low_res_logits, direct.masks[0][0], 1e-6);
  EXPECT_NEAR(r.candidates[0].iou, direct.iou_scores[0][0][0].item<float>(), 1e-5);
  // A different scaling would move the prompt: the x and y scales really differ here.
  ASSERT_NE(sx, sy);

  // The prompt position matters: the points scaled by 1.5 in x give another result.
  models::TrackerPrompts moved = tp;
  moved.points = tp.points.clone();
  moved.points.select(-1, 0).mul_(1.5);
  const models::TrackerPrediction off = models::predict_tracker(*m.tracker, f, moved, false);
  EXPECT_GT(testing::rel_l2(off.masks[0][0], r.low_res_logits), 1e-4);
}

// Refinement: the previous low-resolution logits go back in as mask_input; the result
// changes, and the same inputs give the same result every time.
TEST_F(ObjectSession, RefinementWithPreviousLogits) {
  ImageSession s(model());
  s.set_image(test_image());
  ObjectPrompt p;
  p.points = {{70.0f, 45.0f}};
  const ObjectResult first = s.predict(p);
  const ObjectResult again = s.predict(p);
  EXPECT_TRUE(at::equal(first.low_res_logits, again.low_res_logits));

  ObjectPrompt refine = p;
  refine.points.push_back({20.0f, 100.0f, false});
  refine.mask_input = first.low_res_logits[first.best];
  refine.multimask = false;
  const ObjectResult r1 = s.predict(refine);
  const ObjectResult r2 = s.predict(refine);
  EXPECT_TRUE(at::equal(r1.low_res_logits, r2.low_res_logits));
  ObjectPrompt no_mask = refine;
  no_mask.mask_input = at::Tensor();
  const ObjectResult plain = s.predict(no_mask);
  EXPECT_GT(testing::rel_l2(r1.low_res_logits, plain.low_res_logits), 1e-3);
  // A [1, 4G, 4G] slice works as well as [4G, 4G].
  refine.mask_input = first.low_res_logits.narrow(0, first.best, 1);
  EXPECT_TRUE(at::equal(s.predict(refine).low_res_logits, r1.low_res_logits));

  // A binary mask of the image size (bool or uint8) is a prompt on its own too.
  ObjectPrompt by_mask;
  by_mask.mask_input = first.candidates[first.best].mask;
  by_mask.multimask = false;
  const ObjectResult mb = s.predict(by_mask);
  ASSERT_EQ(mb.candidates.size(), 1u);
  by_mask.mask_input = first.candidates[first.best].mask.to(at::kByte).mul(255);
  EXPECT_TRUE(at::equal(s.predict(by_mask).low_res_logits, mb.low_res_logits));
  // It is the logits +-10 resized by the tracker.
  const auto& m = *model_impl(*model()).modules;
  models::TrackerImageOptions meta;
  meta.add_no_memory_embedding = true;
  const auto f = models::encode_tracker_image(*m.tracker, *m.frame_encoder, pipeline::preprocess_image(test_image(), model()->image_size()), meta);
  models::TrackerPrompts tp;
  tp.mask_input = first.candidates[first.best].mask.to(at::kFloat).mul(20).sub(10).view({1, 1, 120, 160});
  SAM3RT_EXPECT_CLOSE(mb.low_res_logits, models::predict_tracker(*m.tracker, f, tp, false).masks[0][0], 1e-6);
}

// One ViT pass serves both tasks: concept results from the session's lazily built
// detector neck equal those of segment_images (which encodes from scratch), before and
// after object prompts on the same session.
TEST_F(ObjectSession, SharesTheVitWithTheDetector) {
  const at::Tensor rgb = test_image();
  SegmentOptions so;
  so.score_threshold = 0.0f;  // every query, so the comparison covers all of them
  const auto reference = segment_images(model(), {rgb}, {ConceptPrompt{"shoe", {}}}, so)[0][0];
  ASSERT_FALSE(reference.instances.empty());

  ImageSession s(model());
  s.set_image(rgb);
  ObjectPrompt p;
  p.points = {{70.0f, 45.0f}};
  const ObjectResult before = s.predict(p);
  const SegmentResult by_text = s.segment(ConceptPrompt{"shoe", {}}, so);
  const ObjectResult after = s.predict(p);
  EXPECT_TRUE(at::equal(before.low_res_logits, after.low_res_logits));
  ASSERT_EQ(by_text.instances.size(), reference.instances.size());
  for (size_t i = 0; i < by_text.instances.size(); ++i) {
    EXPECT_NEAR(by_text.instances[i].score, reference.instances[i].score, 1e-6);
    EXPECT_TRUE(at::equal(by_text.instances[i].mask, reference.instances[i].mask));
  }
}

TEST_F(ObjectSession, BadPromptsAreInvalidArgument) {
  ImageSession s(model());
  ObjectPrompt ok;
  ok.points = {{10.0f, 10.0f}};
  expect_error([&] { s.predict(ok); }, ErrorCode::kInvalidArgument, "set_image");
  s.set_image(test_image());  // 160 x 120
  const int64_t L = model()->low_res_mask_size();

  auto with_point = [](float x, float y) {
    ObjectPrompt p;
    p.points = {{10.0f, 10.0f}, {x, y}};
    return p;
  };
  expect_error([&] { s.predict(with_point(161.0f, 10.0f)); }, ErrorCode::kInvalidArgument, "point 2");
  expect_error([&] { s.predict(with_point(-1.0f, 10.0f)); }, ErrorCode::kInvalidArgument, "outside the 160x120 image");
  expect_error([&] { s.predict(with_point(10.0f, 120.5f)); }, ErrorCode::kInvalidArgument, "outside");
  expect_error([&] { s.predict(with_point(std::numeric_limits<float>::quiet_NaN(), 10.0f)); },
               ErrorCode::kInvalidArgument, "outside");
  EXPECT_NO_THROW(s.predict(with_point(160.0f, 120.0f)));  // the far corner is inside

  auto with_box = [](Box b) {
    ObjectPrompt p;
    p.box = b;
    return p;
  };
  expect_error([&] { s.predict(with_box({50, 10, 40, 60})); }, ErrorCode::kInvalidArgument, "x2 > x1");
  expect_error([&] { s.predict(with_box({10, 60, 40, 60})); }, ErrorCode::kInvalidArgument, "y2 > y1");
  expect_error([&] { s.predict(with_box({10, 10, 170, 60})); }, ErrorCode::kInvalidArgument, "outside the 160x120");
  expect_error([&] { s.predict(with_box({-5, 10, 40, 60})); }, ErrorCode::kInvalidArgument, "outside");
  expect_error([&] { s.predict(with_box({10, 10, 40, 60, false})); }, ErrorCode::kInvalidArgument, "negative");

  ObjectPrompt m = ok;
  m.mask_input = at::zeros({L, L + 1});
  expect_error([&] { s.predict(m); }, ErrorCode::kInvalidArgument, "[" + std::to_string(L) + ", " + std::to_string(L) + "]");
  m.mask_input = at::zeros({120, 160});  // float of the image size: not logits
  expect_error([&] { s.predict(m); }, ErrorCode::kInvalidArgument, "low-resolution logits");
  m.mask_input = at::zeros({121, 160}, at::TensorOptions().dtype(at::kBool));
  expect_error([&] { s.predict(m); }, ErrorCode::kInvalidArgument, "image's size 160x120");
  m.mask_input = at::zeros({L, L}, at::TensorOptions().dtype(at::kInt));
  expect_error([&] { s.predict(m); }, ErrorCode::kInvalidArgument, "dtype");
  m.mask_input = at::zeros({L, L}).fill_(std::numeric_limits<float>::infinity());
  expect_error([&] { s.predict(m); }, ErrorCode::kInvalidArgument, "NaN or Inf");

  expect_error([&] { s.predict(ObjectPrompt{}); }, ErrorCode::kInvalidArgument, "needs points, a box or a mask");
  // The session is still usable after errors.
  EXPECT_EQ(s.predict(ok).candidates.size(), 3u);
}

// The sam3_tracker layout (tracker only, with its own copy of the ViT) loads and predicts;
// concept prompts are unsupported there.
TEST(ObjectSessionTrackerLayout, PredictsAndRefusesConcepts) {
  ModelOptions mo;
  mo.model_dir = testing::data_path("sam3-tiny-seed0/sam3_tracker");
  const auto model = Model::load(mo);
  EXPECT_EQ(model->type_name(), "sam3_tracker");
  EXPECT_TRUE(model->can_segment_objects());
  EXPECT_FALSE(model->can_segment_concepts());
  ImageSession s(model);
  s.set_image(test_image(90, 70));
  ObjectPrompt p;
  p.box = Box{5, 5, 60, 80};
  p.multimask = false;
  const ObjectResult r = s.predict(p);
  ASSERT_EQ(r.candidates.size(), 1u);
  EXPECT_EQ(r.candidates[0].mask.sizes(), (std::vector<int64_t>{90, 70}));
  EXPECT_EQ(r.low_res_logits.size(1), model->low_res_mask_size());
  expect_error([&] { s.segment(ConceptPrompt{"cat", {}}); }, ErrorCode::kUnsupported, "no concept detector");
}

// A detector-only model (sam3 layout) has no tracker: predict is unsupported, and
// concept segmentation still works on the same session.
TEST(ObjectSessionImageLayout, PredictUnsupported) {
  const std::string dir = write_random_model("sam3_image", "image");
  ModelOptions mo;
  mo.model_dir = dir;
  const auto model = Model::load(mo);
  EXPECT_FALSE(model->can_segment_objects());
  EXPECT_EQ(model->low_res_mask_size(), 0);
  ImageSession s(model);
  s.set_image(test_image());
  ObjectPrompt p;
  p.points = {{10.0f, 10.0f}};
  expect_error([&] { s.predict(p); }, ErrorCode::kUnsupported, "no tracker");
  EXPECT_NO_THROW(s.segment(ConceptPrompt{"dog", {}}));
  std::error_code ec;
  fs::remove_all(fs::path(dir).parent_path(), ec);
}

}  // namespace
}  // namespace sam3rt
