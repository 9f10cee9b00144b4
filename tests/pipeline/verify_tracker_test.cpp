// `sam3rt verify` on the single-image tracker fixture (sam3_tracker): every case (points
// + box, one point, box with a single mask) on outputs and intermediates, within the fp32
// parity bound, with the names the fixture provides.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>

#include "pipeline/verify.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

TEST(VerifyTracker, EveryCasePasses) {
  pipeline::VerifyOptions options;
  const pipeline::VerifyReport report =
      pipeline::verify_fixture(testing::data_path("sam3-tiny-seed0/sam3_tracker"), options);
  for (const auto& r : report.results) {
    EXPECT_TRUE(r.ok()) << r.name << ": rel-L2 " << r.rel_l2 << ", max abs " << r.max_abs
                        << (r.shape_ok ? "" : " (shape mismatch)") << (r.has_nan ? " (NaN)" : "");
  }
  for (const auto& s : report.skipped) std::printf("[ skipped  ] %s\n", s.c_str());
  std::printf("[ rel-L2   ] %zu tensors, worst %.3g\n", report.results.size(), report.worst_rel_l2());
  EXPECT_TRUE(report.ok());
  EXPECT_LE(report.worst_rel_l2(), 1e-4);
  // Every output and intermediate the fixture stores is produced: 3 cases x 6 outputs,
  // 3 x 15 decoder / prompt / image-PE intermediates, and t0's 9 vision intermediates.
  EXPECT_GE(report.results.size(), 3u * 6u + 3u * 15u + 9u);
  // Nothing of the model is skipped (the fixture has no raw images, so preprocessing is).
  for (const auto& s : report.skipped) EXPECT_EQ(s.rfind("preprocessing:", 0), 0u) << s;

  // Each case and each kind of tensor is among those compared.
  std::set<std::string> names;
  for (const auto& r : report.results) names.insert(r.name);
  for (const char* c : {"t0_points_box", "t1_single_point", "t2_box_single_mask"}) {
    const std::string k = c;
    for (const char* t : {"pred_masks", "iou_scores", "object_score_logits", "image_embeddings.0",
                          "image_embeddings.2", "prompt_encoder.0", "prompt_encoder.1", "mask_decoder.transformer.1",
                          "mask_decoder.transformer.layers.1.2", "shared_image_embedding"}) {
      EXPECT_TRUE(names.count(k + "." + t)) << k << "." << t << " was not compared";
    }
  }
  EXPECT_TRUE(names.count("t0_points_box.vision_encoder.backbone.last_hidden_state"));
  EXPECT_TRUE(names.count("t0_points_box.vision_encoder.neck.0.3"));
  EXPECT_TRUE(names.count("t0_points_box.vision_encoder.neck.1.0"));
}

// The single-mask case really is compared as one mask (the multimask choice is taken from
// the reference's own output shape).
TEST(VerifyTracker, SingleMaskCaseHasOneMask) {
  pipeline::VerifyOptions options;
  size_t seen = 0;
  options.on_result = [&](const pipeline::TensorComparison& r) {
    if (r.name == "t2_box_single_mask.pred_masks" || r.name == "t2_box_single_mask.iou_scores") {
      ++seen;
      EXPECT_TRUE(r.shape_ok);
    }
  };
  const auto report = pipeline::verify_fixture(testing::data_path("sam3-tiny-seed0/sam3_tracker"), options);
  EXPECT_EQ(seen, 2u);
}

}  // namespace
}  // namespace sam3rt
