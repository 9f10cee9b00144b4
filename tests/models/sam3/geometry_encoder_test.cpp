// Geometry encoder parity: encoded box prompts (with the CLS token placed after the last
// valid box) and their mask against the refgen fixture, plus the K = 0 (CLS only) path.
#include "models/sam3/geometry_encoder.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "models/modules.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

constexpr int64_t kPaddingLabel = -10;

// A fixture and its checkpoint's modules.
struct Env {
  testing::Fixture fx;
  std::unique_ptr<models::Modules> modules;

  explicit Env(const std::string& dir) : fx(dir), modules(testing::bind_model(fx.dir()).modules) {}
  const models::GeometryEncoder& encoder() const { return modules->detector->geometry_encoder; }

  // The detector FPN level at scale 1 (the last level the detector keeps) and its
  // position encoding: recorded for c0 (image0) and c2 (image0 + image1).
  at::Tensor image(bool batch2) const {
    return fx.intermediate(std::string(batch2 ? "c2_batch2_padded_boxes" : "c0_hf_text_only") +
                           ".vision_encoder.neck.0.2");
  }
  at::Tensor image_pos() const { return fx.intermediate("c0_hf_text_only.vision_encoder.neck.1.2"); }

  // Runs the case's boxes as Sam3Model.forward passes them (mask = label != -10).
  models::GeometryPrompt run(const std::string& c, bool batch2) const {
    const at::Tensor boxes = fx.input(c + ".input_boxes");
    const at::Tensor labels = fx.input(c + ".input_boxes_labels");
    return encoder().forward(boxes, labels, labels.ne(kPaddingLabel), image(batch2), image_pos());
  }
};

class GeometryEncoderParity : public ::testing::TestWithParam<std::string> {};

void expect_case(const Env& b, const std::string& c, bool batch2) {
  SCOPED_TRACE(c);
  const models::GeometryPrompt out = b.run(c, batch2);
  SAM3RT_EXPECT_CLOSE(out.features, b.fx.intermediate(c + ".geometry_encoder.last_hidden_state"),
                      testing::kParityRelL2);
  const at::Tensor ref_mask = b.fx.intermediate(c + ".geometry_encoder.attention_mask");
  ASSERT_EQ(out.mask.sizes(), ref_mask.sizes());
  EXPECT_EQ(out.mask.scalar_type(), at::kBool);
  EXPECT_TRUE(at::equal(out.mask, ref_mask)) << out.mask << "\nvs\n" << ref_mask;
}

// One positive and one negative box.
TEST_P(GeometryEncoderParity, TwoBoxes) { expect_case(Env(GetParam()), "c1_text_boxes", false); }

// Batch of two; sample 0's second box is padding, so its CLS token sits at index 1 and
// the last row is a masked zero row.
TEST_P(GeometryEncoderParity, BatchWithPaddingBox) {
  const Env b(GetParam());
  ASSERT_EQ(b.fx.input("c2_batch2_padded_boxes.input_boxes_labels").eq(kPaddingLabel).sum().item<int64_t>(), 1);
  expect_case(b, "c2_batch2_padded_boxes", true);
}

// Only a padding box: CLS token alone at index 0.
TEST_P(GeometryEncoderParity, OnlyPaddingBox) { expect_case(Env(GetParam()), "c3_text_padbox", false); }
TEST_P(GeometryEncoderParity, OnlyPaddingBoxBatch2) { expect_case(Env(GetParam()), "c4_batch2_text_padbox", true); }

// The validity mask argument and the -10 labels are two ways of marking padding; either
// alone gives the same result.
TEST_P(GeometryEncoderParity, PaddingFromLabelsOrMask) {
  const Env b(GetParam());
  const std::string c = "c2_batch2_padded_boxes";
  const at::Tensor boxes = b.fx.input(c + ".input_boxes");
  const at::Tensor labels = b.fx.input(c + ".input_boxes_labels");
  const at::Tensor ref = b.fx.intermediate(c + ".geometry_encoder.last_hidden_state");
  const at::Tensor all_valid = at::ones(labels.sizes(), at::kBool);
  SAM3RT_EXPECT_CLOSE(b.encoder().forward(boxes, labels, all_valid, b.image(true), b.image_pos()).features, ref,
                      testing::kParityRelL2);
  // Padding marked only by the mask: its label (here 0) is never used.
  const at::Tensor pad = labels.eq(kPaddingLabel);
  SAM3RT_EXPECT_CLOSE(
      b.encoder().forward(boxes, labels.masked_fill(pad, 0), pad.logical_not(), b.image(true), b.image_pos()).features,
      ref, testing::kParityRelL2);
}

// K = 0 boxes gives the CLS token alone, equal to the single-padding-box case's CLS row
// (index.json geometry_cls_check: transformers' padding-box path equals the exact
// CLS-only path).
TEST_P(GeometryEncoderParity, NoBoxesEqualsPaddingBoxCls) {
  const Env b(GetParam());
  for (const auto& [c, batch2] : {std::pair<std::string, bool>{"c3_text_padbox", false}, {"c4_batch2_text_padbox", true}}) {
    SCOPED_TRACE(c);
    const at::Tensor image = b.image(batch2);
    const int64_t B = image.size(0);
    const models::GeometryPrompt none =
        b.encoder().forward(at::empty({B, 0, 4}, at::kFloat), at::empty({B, 0}, at::kLong),
                            at::empty({B, 0}, at::kBool), image, b.image_pos());
    ASSERT_EQ(none.features.sizes(), (std::vector<int64_t>{B, 1, b.modules->config.detector->geometry_encoder.hidden_size}));
    EXPECT_TRUE(at::equal(none.mask, at::ones({B, 1}, at::kBool)));
    const at::Tensor ref_cls = b.fx.intermediate(c + ".geometry_encoder.last_hidden_state").slice(1, 0, 1);
    SAM3RT_EXPECT_CLOSE(none.features, ref_cls, testing::kParityRelL2);
    // Against our own padding-box path: the masked row must not leak into the CLS token.
    const at::Tensor padded_cls = b.run(c, batch2).features.slice(1, 0, 1);
    SAM3RT_EXPECT_CLOSE(none.features, padded_cls, 1e-5);
  }
}

TEST_P(GeometryEncoderParity, RejectsBadInput) {
  const Env b(GetParam());
  const at::Tensor boxes = b.fx.input("c1_text_boxes.input_boxes");
  const at::Tensor labels = b.fx.input("c1_text_boxes.input_boxes_labels");
  const at::Tensor valid = labels.ne(kPaddingLabel);
  const at::Tensor image = b.image(false), pos = b.image_pos();
  const auto& enc = b.encoder();
  EXPECT_THROW(enc.forward(boxes.slice(2, 0, 3), labels, valid, image, pos), Error);           // boxes not [B, K, 4]
  EXPECT_THROW(enc.forward(boxes, labels.slice(1, 0, 1), valid, image, pos), Error);           // labels shape
  EXPECT_THROW(enc.forward(boxes, labels, valid.slice(1, 0, 1), image, pos), Error);           // mask shape
  EXPECT_THROW(enc.forward(boxes, labels.clone().fill_(2), valid, image, pos), Error);         // unknown label
  EXPECT_THROW(enc.forward(boxes, labels, valid, image.slice(1, 0, 4), pos), Error);           // image width
  EXPECT_THROW(enc.forward(boxes, labels, valid, image, pos.slice(2, 0, 4)), Error);           // pos size
  EXPECT_THROW(enc.forward(boxes.repeat({2, 1, 1}), labels.repeat({2, 1}), valid.repeat({2, 1}), image, pos), Error);
  // A padding box before a valid one (the CLS placement presumes right padding).
  at::Tensor holes = valid.clone();
  holes.select(0, 0).select(0, 0).fill_(false);
  EXPECT_THROW(enc.forward(boxes, labels, holes, image, pos), Error);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GeometryEncoderParity, ::testing::Values("sam3-tiny-seed0/sam3_image"));

}  // namespace
}  // namespace sam3rt
