// The mask operations of the text video pipeline on hand-made masks: connected components,
// hole filling and sprinkle removal, detection NMS, detection / masklet matching and the
// overlap rules, each against values worked out by hand from the reference's definitions.
#include "testing/fixture.h"
#include "models/video/masklet_matching.h"

#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>

#include <vector>

#include "io/config.h"
#include "nn/connected_components.h"
#include "sam3rt/error.h"

namespace sam3rt {
namespace {

using testing::to_vector;

at::Tensor grid(const std::vector<std::vector<int>>& rows) {
  std::vector<float> v;
  for (const auto& r : rows) v.insert(v.end(), r.begin(), r.end());
  return at::tensor(v, at::TensorOptions().dtype(at::kFloat))
      .view({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())});
}

TEST(ConnectedComponents, EightConnectedAreasAndLabels) {
  const at::Tensor m =
      grid({{1, 0, 0, 0, 1, 1}, {0, 1, 0, 0, 1, 1}, {0, 0, 0, 0, 0, 0}, {0, 0, 1, 0, 0, 1}, {1, 1, 0, 0, 0, 0}}).gt(0);
  // (0,0)-(1,1) touch at a corner; (3,2)-(4,1) too, and (4,0)-(4,1) share an edge.
  EXPECT_EQ(to_vector(nn::connected_component_areas(m)), (std::vector<int64_t>{2, 0, 0, 0, 4, 4,  //
                                                                               0, 2, 0, 0, 4, 4,  //
                                                                               0, 0, 0, 0, 0, 0,  //
                                                                               0, 0, 3, 0, 0, 1,  //
                                                                               3, 3, 0, 0, 0, 0}));
  EXPECT_EQ(to_vector(nn::connected_component_labels(m)), (std::vector<int64_t>{1, 0, 0, 0, 2, 2,  //
                                                                                0, 1, 0, 0, 2, 2,  //
                                                                                0, 0, 0, 0, 0, 0,  //
                                                                                0, 0, 3, 0, 0, 4,  //
                                                                                3, 3, 0, 0, 0, 0}));
  // Leading dimensions: each slice on its own.
  const at::Tensor two = at::stack({m, m.logical_not()}, 0).unsqueeze(1);  // [2, 1, 5, 6]
  const at::Tensor areas = nn::connected_component_areas(two);
  EXPECT_EQ(areas.sizes(), two.sizes());
  EXPECT_EQ(to_vector(areas[0]), to_vector(nn::connected_component_areas(m)));
  EXPECT_EQ(areas[1][0][0][1].item<int>(), 20);  // the background is one 8-connected region
  EXPECT_THROW(nn::connected_component_areas(at::zeros({3})), Error);
}

TEST(MaskletMatching, FillsSmallHolesAndRemovesSprinkles) {
  // 8 x 8 logits: rows 0-4 foreground (2.0) with a one-pixel hole at (2, 3); one isolated
  // foreground pixel at (7, 7).
  at::Tensor m = at::full({8, 8}, -1.0f);
  m.slice(0, 0, 5).fill_(2.0);
  m[2][3] = -3.0;
  m[7][7] = 1.5;
  const at::Tensor in = m.view({1, 1, 8, 8});
  at::Tensor expected = m.clone();
  expected[2][3] = 0.1;   // hole of area 1 <= 2
  expected[7][7] = -0.1;  // sprinkle of area 1 <= min(2, 41 / 2)
  EXPECT_TRUE(models::fill_holes_in_mask_scores(in, 2).view({8, 8}).equal(expected));
  // Only one of the two steps.
  at::Tensor holes_only = m.clone();
  holes_only[2][3] = 0.1;
  EXPECT_TRUE(models::fill_holes_in_mask_scores(in, 2, true, false).view({8, 8}).equal(holes_only));
  // Disabled.
  EXPECT_TRUE(models::fill_holes_in_mask_scores(in, 0).equal(in));
  // A tiny object is not removed: its only component is more than half of its area.
  at::Tensor tiny = at::full({1, 1, 6, 6}, -1.0f);
  tiny[0][0][2][2] = 1.0;
  EXPECT_TRUE(models::fill_holes_in_mask_scores(tiny, 4).equal(tiny));
}

TEST(MaskletMatching, GreedyMaskNms) {
  at::Tensor masks = at::full({4, 4, 4}, -1.0f);
  masks[0].slice(1, 0, 2).fill_(1.0);  // left half
  masks[1].slice(1, 0, 2).fill_(1.0);  // the same
  masks[2].slice(1, 2, 4).fill_(1.0);  // right half
  masks[3].fill_(1.0);                 // everything, but below the threshold
  const at::Tensor probs = at::tensor(std::vector<float>{0.8f, 0.9f, 0.7f, 0.1f});
  // 1 (best) suppresses 0 (IoU 1); 2 does not overlap; 3 is not a detection.
  EXPECT_EQ(to_vector(models::nms_detections(probs, masks, 0.5, 0.5)), (std::vector<int64_t>{0, 1, 1, 0}));
  // IoU 1 is not above a threshold of 1.
  EXPECT_EQ(to_vector(models::nms_detections(probs, masks, 0.5, 1.0)), (std::vector<int64_t>{1, 1, 1, 0}));
  EXPECT_EQ(to_vector(models::nms_detections(probs, masks, 0.95, 0.5)), (std::vector<int64_t>{0, 0, 0, 0}));
}

TEST(MaskletMatching, MaskIou) {
  at::Tensor a = at::zeros({2, 2, 4}, at::kBool), b = at::zeros({2, 2, 4}, at::kBool);
  a[0].slice(1, 0, 2).fill_(true);  // 4 px
  b[0].slice(1, 1, 3).fill_(true);  // 4 px, 2 shared
  const at::Tensor iou = models::mask_iou(a, b);
  EXPECT_FLOAT_EQ(iou[0][0].item<float>(), 2.0f / 6.0f);
  EXPECT_FLOAT_EQ(iou[1][1].item<float>(), 0.0f);  // both empty: 0 / max(0, 1)
}

VideoPipelineConfig thresholds() {
  VideoPipelineConfig c;
  c.assoc_iou_thresh = 0.1;
  c.trk_assoc_iou_thresh = 0.5;
  c.new_det_thresh = 0.7;
  c.high_conf_thresh = 0.8;
  c.high_iou_thresh = 0.8;
  return c;
}

TEST(MaskletMatching, MatchesDetectionsWithMasklets) {
  const VideoPipelineConfig c = thresholds();
  at::Tensor trk = at::full({3, 4, 4}, -1.0f);
  trk[0].slice(1, 0, 2).fill_(1.0);  // object 10: left half
  trk[1].slice(1, 2, 4).fill_(1.0);  // object 11: right half; object 12 empty
  at::Tensor det = at::full({4, 4, 4}, -1.0f);
  det[0].slice(1, 0, 2).fill_(1.0);                 // = object 10
  det[1].slice(0, 0, 2).slice(1, 3, 4).fill_(1.0);  // 2 px of object 11: IoU 0.25
  const at::Tensor scores = at::tensor(std::vector<float>{0.9f, 0.85f, 0.95f, 0.5f});
  const std::vector<int64_t> ids{10, 11, 12};
  const models::DetectionMatch r = models::match_detections(det, scores, {0, 0, 0, 0}, trk, ids, {0, 0, 0}, c);
  EXPECT_EQ(r.new_detections, (std::vector<int64_t>{2}));         // 3 overlaps nothing but scores < 0.7
  EXPECT_EQ(r.unmatched_object_ids, (std::vector<int64_t>{11}));  // IoU 0.25 < 0.5
  EXPECT_EQ(r.empty_object_ids, (std::vector<int64_t>{12}));
  ASSERT_EQ(r.detection_object_ids.size(), 4u);
  EXPECT_EQ(r.detection_object_ids[0], (std::vector<int64_t>{10}));
  EXPECT_EQ(r.detection_object_ids[1], (std::vector<int64_t>{11}));  // 0.25 >= 0.1
  EXPECT_TRUE(r.detection_object_ids[2].empty());
  ASSERT_EQ(r.high_confidence.size(), 1u);  // detection 1 is confident but its IoU is low
  EXPECT_EQ(r.high_confidence[0], (std::pair<int64_t, int64_t>{10, 0}));

  // Across prompts nothing matches: detection 0 (prompt 1) becomes new.
  const models::DetectionMatch x = models::match_detections(det, scores, {1, 0, 0, 0}, trk, ids, {0, 0, 0}, c);
  EXPECT_EQ(x.new_detections, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(x.unmatched_object_ids, (std::vector<int64_t>{10, 11}));
  EXPECT_TRUE(x.high_confidence.empty());

  // Without masklets every detection is new, whatever its score.
  const models::DetectionMatch n = models::match_detections(det, scores, {0, 0, 0, 0}, at::zeros({0, 4, 4}), {}, {}, c);
  EXPECT_EQ(n.new_detections, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_TRUE(n.detection_object_ids.empty());
  // Without detections the non-empty masklets are unmatched.
  const models::DetectionMatch d =
      models::match_detections(at::zeros({0, 4, 4}), at::zeros({0}), {}, trk, ids, {0, 0, 0}, c);
  EXPECT_TRUE(d.new_detections.empty());
  EXPECT_EQ(d.unmatched_object_ids, (std::vector<int64_t>{10, 11}));
  EXPECT_EQ(d.empty_object_ids, (std::vector<int64_t>{12}));
}

TEST(MaskletMatching, HighConfidenceDetectionGoesToItsBestMasklet) {
  const VideoPipelineConfig c = thresholds();
  at::Tensor trk = at::full({2, 4, 4}, -1.0f);
  trk[0].fill_(1.0);  // object 5: everything
  trk[1].fill_(1.0);  // object 6: everything as well
  at::Tensor det = at::ones({2, 4, 4});
  const at::Tensor scores = at::tensor(std::vector<float>{0.9f, 0.95f});
  const models::DetectionMatch r = models::match_detections(det, scores, {0, 0}, trk, {5, 6}, {0, 0}, c);
  // Both detections overlap both masklets equally: the first maximum (object 5) wins, and
  // the later detection replaces the earlier one for it.
  ASSERT_EQ(r.high_confidence.size(), 1u);
  EXPECT_EQ(r.high_confidence[0], (std::pair<int64_t, int64_t>{5, 1}));
  EXPECT_EQ(r.detection_object_ids[0], (std::vector<int64_t>{5, 6}));
}

TEST(MaskletMatching, SuppressesTheMoreRecentlyOccluded) {
  const at::Tensor same = at::ones({2, 3, 3}, at::kBool);
  EXPECT_EQ(models::suppress_recently_occluded(same, {5, 2}, 0.7, false), (std::vector<bool>{true, false}));
  EXPECT_EQ(models::suppress_recently_occluded(same, {2, 5}, 0.7, false), (std::vector<bool>{false, true}));
  // The other one was never occluded: nothing happens.
  EXPECT_EQ(models::suppress_recently_occluded(same, {5, -1}, 0.7, false), (std::vector<bool>{false, false}));
  // Backwards in time "more recent" is the smaller frame.
  EXPECT_EQ(models::suppress_recently_occluded(same, {2, 5}, 0.7, true), (std::vector<bool>{true, false}));
  // Not overlapping enough.
  at::Tensor apart = at::zeros({2, 3, 3}, at::kBool);
  apart[0][0].fill_(true);
  apart[1][2].fill_(true);
  EXPECT_EQ(models::suppress_recently_occluded(apart, {5, 2}, 0.7, false), (std::vector<bool>{false, false}));
  EXPECT_EQ(models::suppress_recently_occluded(same.slice(0, 0, 1), {5}, 0.7, false), (std::vector<bool>{false}));
}

TEST(MaskletMatching, ShrinkRuleAndPixelNonOverlap) {
  at::Tensor m = at::full({2, 1, 4, 4}, 5.0f);
  m[1].fill_(3.0);
  m[1][0][0][0] = 8.0;  // object 1 wins one pixel: 1 / 16 of its area
  const at::Tensor px = models::apply_pixel_non_overlap(m);
  EXPECT_FLOAT_EQ(px[0][0][0][0].item<float>(), -10.0f);
  EXPECT_FLOAT_EQ(px[0][0][1][1].item<float>(), 5.0f);
  EXPECT_FLOAT_EQ(px[1][0][1][1].item<float>(), -10.0f);
  // Same prompt: object 1 shrinks to 6% of its area and is suppressed entirely; object 0
  // keeps 15/16 and is returned unchanged (not the non-overlapping version).
  const at::Tensor s = models::suppress_shrunk_masks(m, {0, 0});
  EXPECT_TRUE(s[0].equal(m[0]));
  EXPECT_FLOAT_EQ(s[1].max().item<float>(), -10.0f);
  // Different prompts never constrain each other.
  EXPECT_TRUE(models::suppress_shrunk_masks(m, {0, 1}).equal(m));
}

TEST(MaskletMatching, ObjectWiseNonOverlap) {
  at::Tensor m = at::zeros({3, 2, 4}, at::kBool);
  m[0].slice(1, 0, 3).fill_(true);
  m[1].slice(1, 1, 4).fill_(true);
  m[2].fill_(true);
  const at::Tensor scores = at::tensor(std::vector<float>{0.3f, 0.6f, 0.0f});
  const at::Tensor out = models::object_wise_non_overlap(m, scores, {0, 0, 1});
  EXPECT_EQ(to_vector(out[0][0]), (std::vector<int64_t>{1, 0, 0, 0}));  // columns 1-2 go to the better object
  EXPECT_EQ(to_vector(out[1][0]), (std::vector<int64_t>{0, 1, 1, 1}));
  EXPECT_EQ(to_vector(out[2].sum()), (std::vector<int64_t>{0}));  // a score of 0 keeps nothing
}

}  // namespace
}  // namespace sam3rt
