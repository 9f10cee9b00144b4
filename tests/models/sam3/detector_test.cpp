// The detector end to end (models::detect) on the sam3_image fixture, including Meta's
// text-only semantics: with no boxes the geometry encoder still runs and contributes the
// image-conditioned CLS token, which must equal the reference's one-padding-box cases.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "models/modules.h"
#include "models/sam3/detector.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

// The sam3_image fixture and its checkpoint's modules.
struct Env {
  testing::Fixture fx{"sam3-tiny-seed0/sam3_image"};
  std::unique_ptr<models::Modules> m = testing::bind_model(fx.dir()).modules;
};

models::DetectorOutput run(const Env& b, const std::string& c, bool with_boxes, bool geometry_without_boxes) {
  const auto image = models::encode_detector_image(*b.m, b.fx.input(c + ".pixel_values"));
  models::DetectorPrompt p;
  const at::Tensor mask = b.fx.input(c + ".attention_mask");
  p.text = models::encode_text(*b.m, b.fx.input(c + ".input_ids"), mask);
  p.text_valid = mask.to(at::kBool);
  if (with_boxes) {
    p.boxes = b.fx.input(c + ".input_boxes");
    p.box_labels = b.fx.input(c + ".input_boxes_labels");
  }
  p.geometry_without_boxes = geometry_without_boxes;
  return models::detect(*b.m, image, p);
}

void expect_outputs(const Env& b, const std::string& c, const models::DetectorOutput& out) {
  SAM3RT_EXPECT_CLOSE(out.pred_logits, b.fx.output(c + ".pred_logits"), testing::kParityRelL2);
  SAM3RT_EXPECT_CLOSE(out.pred_boxes, b.fx.output(c + ".pred_boxes"), testing::kParityRelL2);
  SAM3RT_EXPECT_CLOSE(out.presence_logits, b.fx.output(c + ".presence_logits"), testing::kParityRelL2);
  SAM3RT_EXPECT_CLOSE(out.pred_masks, b.fx.output(c + ".pred_masks"), testing::kParityRelL2);
  SAM3RT_EXPECT_CLOSE(out.semantic_seg, b.fx.output(c + ".semantic_seg"), testing::kParityRelL2);
}

TEST(Detector, EveryCaseMatchesReferenceOutputs) {
  Env b;
  expect_outputs(b, "c0_hf_text_only", run(b, "c0_hf_text_only", false, false));
  for (const char* c : {"c1_text_boxes", "c2_batch2_padded_boxes", "c3_text_padbox", "c4_batch2_text_padbox"}) {
    SCOPED_TRACE(c);
    expect_outputs(b, c, run(b, c, true, false));
  }
}

TEST(Detector, MetaTextOnlyPathEqualsOnePaddingBox) {
  // sam3rt's default for a text-only prompt: no boxes, geometry encoder still runs.
  Env b;
  for (const char* c : {"c3_text_padbox", "c4_batch2_text_padbox"}) {
    SCOPED_TRACE(c);
    expect_outputs(b, c, run(b, c, /*with_boxes=*/false, /*geometry_without_boxes=*/true));
  }
}

TEST(Detector, TransformersTextOnlyPathDiffersFromMeta) {
  // The two semantics really differ (index.json records max abs ~0.23 on the logits).
  Env b;
  const auto hf = run(b, "c3_text_padbox", false, false);
  const auto meta = run(b, "c3_text_padbox", false, true);
  EXPECT_GT(testing::max_abs(hf.pred_logits, meta.pred_logits), 1e-2);
  SAM3RT_EXPECT_CLOSE(hf.pred_logits, b.fx.output("c0_hf_text_only.pred_logits"), testing::kParityRelL2);
}

}  // namespace
}  // namespace sam3rt
