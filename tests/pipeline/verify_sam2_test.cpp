// `sam3rt verify` on the SAM 2 fixtures (tools/refgen/gen_sam2_ref.py): the image tracker
// (Hiera, FPN neck, prompt encoder, mask decoder; points, box, mask inputs, one and three
// masks) and the video tracker (two objects, clicks on several frames, a correction, mask
// prompts, an absent object, a reverse pass), for a SAM 2.1 configuration and a SAM 2.0
// one with base-plus-like head dimensions (56, 72), other windows and global blocks.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>

#include "pipeline/verify.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

pipeline::VerifyReport verify_all_ok(const std::string& folder) {
  pipeline::VerifyOptions options;
  const pipeline::VerifyReport report = pipeline::verify_fixture(testing::data_path(folder), options);
  for (const auto& r : report.results) {
    EXPECT_TRUE(r.ok()) << folder << ": " << r.name << ": rel-L2 " << r.rel_l2 << ", max abs " << r.max_abs
                        << (r.shape_ok ? "" : " (shape mismatch)") << (r.has_nan ? " (NaN)" : "");
  }
  // Nothing the fixture stores is left out (preprocessing only where it has no raw image).
  for (const auto& s : report.skipped) EXPECT_EQ(s.rfind("preprocessing:", 0), 0u) << folder << ": " << s;
  std::printf("[ rel-L2   ] %s: %zu tensors, worst %.3g\n", folder.c_str(), report.results.size(),
              report.worst_rel_l2());
  EXPECT_TRUE(report.ok());
  EXPECT_LE(report.worst_rel_l2(), 1e-4);
  return report;
}

std::set<std::string> names(const pipeline::VerifyReport& r) {
  std::set<std::string> n;
  for (const auto& c : r.results) n.insert(c.name);
  return n;
}

void expect_image_tracker(const std::string& folder, size_t blocks) {
  const auto report = verify_all_ok(folder);
  const auto n = names(report);
  for (const char* c : {"t0_points_box", "t1_single_point", "t2_box_single_mask", "t3_mask_input"}) {
    for (const char* t : {"pred_masks", "iou_scores", "object_score_logits", "image_embeddings.0",
                          "image_embeddings.2", "prompt_encoder.1", "mask_decoder.transformer.1"}) {
      EXPECT_TRUE(n.count(std::string(c) + "." + t)) << c << "." << t << " was not compared";
    }
  }
  // The whole image encoder: patch embedding, position embedding, every Hiera block, the
  // neck's levels, and the preprocessing of the raw image (ImageNet normalisation).
  EXPECT_TRUE(n.count("t0_points_box.pixel_values"));
  EXPECT_TRUE(n.count("t0_points_box.vision_encoder.backbone.patch_embed"));
  EXPECT_TRUE(n.count("t0_points_box.vision_encoder.backbone.pos_embed"));
  EXPECT_TRUE(n.count("t0_points_box.vision_encoder.backbone.blocks." + std::to_string(blocks - 1)));
  EXPECT_TRUE(n.count("t0_points_box.vision_encoder.neck.0.3"));
}

void expect_video_tracker(const std::string& folder) {
  const auto report = verify_all_ok(folder);
  const auto n = names(report);
  // Every stage of every case is compared: propagation forward, the correction, the
  // clicks on later frames, the mask prompts and the reverse pass down to frame 0.
  for (const char* prefix : {"tv0_points_box.propagate.frame0.", "tv1_correction_f3.propagate.",
                             "tv2_second_frame_click.add_obj2.", "tv2_second_frame_click.propagate.",
                             "tv3_reverse.add_obj4.", "tv3_reverse.add_obj5.", "tv3_reverse.propagate_reverse.frame0."}) {
    bool seen = false;
    for (const auto& s : n) seen = seen || s.rfind(prefix, 0) == 0;
    EXPECT_TRUE(seen) << prefix << "* was not compared";
  }
}

TEST(VerifySam2, Sam21ImageTracker) { expect_image_tracker("sam2-tiny-seed0/sam2_tracker", 8); }
TEST(VerifySam2, Sam20BasePlusShapesImageTracker) { expect_image_tracker("sam2-baseplus-seed1/sam2_tracker", 7); }
TEST(VerifySam2, Sam21VideoTracker) { expect_video_tracker("sam2-tiny-seed0/sam2_tracker_video"); }
TEST(VerifySam2, Sam20BasePlusShapesVideoTracker) { expect_video_tracker("sam2-baseplus-seed1/sam2_tracker_video"); }

}  // namespace
}  // namespace sam3rt
