// SAM 2 checkpoints through the public library: the image session (clicks and boxes in
// image pixels, the image encoded once) and the video session (two objects prompted in
// video pixels, propagated), against the reference outputs of the SAM 2 fixtures; a text
// prompt is refused naming the model type.
#include <gtest/gtest.h>

#include <ATen/ops/tensor.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <sam3rt/sam3rt.h>
#include <sam3rt/video.h>

#include "io/safetensors.h"
#include "testing/errors.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

using testing::Fixture;

std::shared_ptr<const Model> load(const std::string& dir) {
  ModelOptions mo;
  mo.model_dir = dir;
  return Model::load(mo);
}

nlohmann::json index_of(const Fixture& fx) {
  std::ifstream in(fx.dir() + "/index.json");
  return nlohmann::json::parse(in);
}

// The fixture's prompts in image pixels: prompts_image_px.<case>.points [[[[x, y], ...]]].
std::vector<Point> points_of(const nlohmann::json& c) {
  std::vector<Point> out;
  if (!c.contains("points")) return out;
  const auto& pts = c["points"][0][0];
  const auto& labels = c["labels"][0][0];
  for (size_t i = 0; i < pts.size(); ++i) {
    out.push_back(Point{pts[i][0].get<float>(), pts[i][1].get<float>(), labels[i].get<int>() == 1});
  }
  return out;
}

class Sam2Image : public ::testing::TestWithParam<const char*> {};

TEST_P(Sam2Image, ClicksAndBoxesMatchTheReference) {
  const Fixture fx(std::string(GetParam()) + "/sam2_tracker");
  const auto model = load(fx.dir());
  EXPECT_EQ(model->type_name(), "sam2");
  EXPECT_TRUE(model->can_segment_objects());
  EXPECT_FALSE(model->can_segment_concepts());
  const nlohmann::json prompts = index_of(fx).at("prompts_image_px");

  ImageSession session(model);
  session.set_image(fx.input("image0_uint8_hwc"));
  int checked = 0;
  for (const char* c : {"t0_points_box", "t1_single_point", "t2_box_single_mask"}) {
    SCOPED_TRACE(c);
    const nlohmann::json& p = prompts.at(c);
    ObjectPrompt op;
    op.points = points_of(p);
    if (p.contains("boxes")) {
      const auto& b = p["boxes"][0][0];
      op.box = Box{b[0].get<float>(), b[1].get<float>(), b[2].get<float>(), b[3].get<float>()};
    }
    const at::Tensor ref_masks = fx.output(std::string(c) + ".pred_masks")[0][0];  // [M, 4G, 4G]
    op.multimask = ref_masks.size(0) > 1;
    const ObjectResult r = session.predict(op);
    ASSERT_EQ(static_cast<int64_t>(r.candidates.size()), ref_masks.size(0));
    EXPECT_LE(testing::rel_l2(r.low_res_logits, ref_masks), testing::kParityRelL2);
    const at::Tensor ref_iou = fx.output(std::string(c) + ".iou_scores").reshape({-1});
    for (size_t i = 0; i < r.candidates.size(); ++i) {
      EXPECT_NEAR(r.candidates[i].iou, ref_iou[static_cast<int64_t>(i)].item<float>(), 1e-4);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 3);

  // No detector: text and exemplar prompts fail at prompt time, naming the model type.
  const std::string msg =
      testing::expect_error(ErrorCode::kUnsupported, [&] { session.segment(ConceptPrompt{"a cat", {}}); });
  EXPECT_NE(msg.find("sam2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no concept detector"), std::string::npos) << msg;
  // An image-only checkpoint has no memory: video tracking is refused, naming the type.
  const std::string video_msg =
      testing::expect_error(ErrorCode::kUnsupported, [&] { VideoSession(model, "absent.mp4"); });
  EXPECT_NE(video_msg.find("sam2"), std::string::npos) << video_msg;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Sam2Image, ::testing::Values("sam2-tiny-seed0", "sam2-baseplus-seed1"));

// Frames from a [T, H, W, 3] tensor.
class TensorSource : public FrameSource {
 public:
  explicit TensorSource(at::Tensor frames) : frames_(std::move(frames)) {}
  int64_t num_frames() const override { return frames_.size(0); }
  int64_t width() const override { return frames_.size(2); }
  int64_t height() const override { return frames_.size(1); }
  double fps() const override { return 24; }
  std::string name() const override { return "fixture clip"; }
  at::Tensor frame(int64_t index) override { return frames_.select(0, index).contiguous(); }

 private:
  at::Tensor frames_;
};

class Sam2Video : public ::testing::TestWithParam<const char*> {};

// tv0 through the public API: object 1 from a positive and a negative click, object 2 from
// a box, both on frame 0 in video pixels, then propagated. The masks at video resolution
// equal the reference's logits > 0 except where a logit is within rounding of 0.
TEST_P(Sam2Video, ClicksAndBoxTrackLikeTheReference) {
  const std::string root = GetParam();
  const std::string video_dir = testing::data_path(root + "/sam2_video");  // checkpoint + frames
  const Fixture fx(root + "/sam2_tracker_video");
  const auto model = load(video_dir);
  EXPECT_EQ(model->type_name(), "sam2_video");
  const at::Tensor frames =
      io::SafetensorsFile::open(video_dir + "/reference_inputs.safetensors")->tensor("video.frames_uint8_thwc");

  VideoSession session(model, std::make_unique<TensorSource>(frames));
  const at::Tensor p1 = fx.input("obj1.frame0.points_video_px").reshape({-1, 2});
  const at::Tensor l1 = fx.input("obj1.frame0.labels").reshape({-1});
  std::vector<Point> clicks;
  for (int64_t i = 0; i < p1.size(0); ++i) {
    clicks.push_back(Point{p1[i][0].item<float>(), p1[i][1].item<float>(), l1[i].item<int64_t>() == 1});
  }
  session.add_points(0, 1, clicks);
  const at::Tensor b = fx.input("obj2.frame0.box_xyxy_video_px").reshape({-1});
  session.add_box(0, 2, Box{b[0].item<float>(), b[1].item<float>(), b[2].item<float>(), b[3].item<float>()});

  int64_t delivered = 0;
  session.propagate([&](const TrackFrame& f) {
    SCOPED_TRACE("frame " + std::to_string(f.index));
    const std::string prefix = "tv0_points_box.propagate.frame" + std::to_string(f.index) + ".";
    const at::Tensor ref = fx.output(prefix + "video_res_mask_logits");  // [2, 1, H, W]
    EXPECT_EQ(f.objects.size(), 2u);
    for (size_t i = 0; i < f.objects.size() && i < 2; ++i) {
      const at::Tensor logits = ref[static_cast<int64_t>(i)][0];
      const at::Tensor differ = f.objects[i].mask.ne(logits.gt(0));
      const at::Tensor near_zero = logits.abs().lt(1e-3);
      // Every differing pixel has a reference logit within rounding of 0.
      EXPECT_EQ(differ.logical_and(near_zero.logical_not()).sum().item<int64_t>(), 0);
    }
    ++delivered;
    return true;
  });
  EXPECT_EQ(delivered, session.num_frames());

  // Text prompts need SAM 3's detector.
  const std::string msg = testing::expect_error(ErrorCode::kUnsupported, [&] { session.add_text("a cat", 0); });
  EXPECT_NE(msg.find("sam2_video"), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Sam2Video, ::testing::Values("sam2-tiny-seed0", "sam2-baseplus-seed1"));

}  // namespace
}  // namespace sam3rt
