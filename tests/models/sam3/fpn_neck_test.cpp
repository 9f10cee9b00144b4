// The FPN necks (detector and tracker) and their sine position encodings against the
// reference fixtures. Each neck is checked twice: fed the reference ViT output (the neck
// alone) and fed our ViT output (the whole vision encoder). The 0.5 level is not computed
// by FpnNeck::forward (no consumer uses it), so its records are skipped.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/config.h"
#include "models/modules.h"
#include "nn/position_encoding.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

using testing::Fixture;
using testing::WorstRelL2;

// Checks `neck` on case `kase`: features of every level with scale >= 1 (fixture index =
// config index) and, where recorded, their position encodings.
void check_neck(const Fixture& fx, const models::VisionBackbone& vit, const models::FpnNeck& neck,
                const VisionConfig& vc, const std::string& kase) {
  const std::string pre = kase + ".vision_encoder.";
  const VitConfig& c = vit.config();
  const int64_t G = c.grid(), D = c.hidden_size;
  const at::Tensor ref_vit = fx.intermediate(pre + "backbone.last_hidden_state");  // [B, G*G, D]
  const int64_t B = ref_vit.size(0);
  const at::Tensor ref_spatial = ref_vit.view({B, G, G, D}).permute({0, 3, 1, 2});  // [B, D, G, G]

  const std::vector<at::Tensor> alone = neck.forward(ref_spatial);
  const std::vector<at::Tensor> chained = neck.forward(vit.forward(fx.input(kase + ".pixel_values")));
  ASSERT_EQ(alone.size(), chained.size());

  WorstRelL2 w_alone(kase + " neck.0.* (reference ViT in)");
  WorstRelL2 w_chained(kase + " neck.0.* (our ViT in)");
  WorstRelL2 w_pos(kase + " neck.1.* (sine PE)");
  size_t out = 0;
  int64_t checked = 0;
  for (size_t i = 0; i < vc.scale_factors.size(); ++i) {
    if (vc.scale_factors[i] < 1.0) continue;
    ASSERT_LT(out, alone.size());
    const std::string name = pre + "neck.0." + std::to_string(i);
    ASSERT_TRUE(fx.has_intermediate(name)) << name;
    const at::Tensor ref = fx.intermediate(name);
    w_alone.check(alone[out], ref, name);
    w_chained.check(chained[out], ref, name);
    const std::string pos_name = pre + "neck.1." + std::to_string(i);
    if (fx.has_intermediate(pos_name)) {
      const at::Tensor pos = fx.intermediate(pos_name);  // [B, F, h, w], the same for every batch element
      const at::Tensor ours = nn::sine_position_grid(alone[out].size(2), alone[out].size(3), vc.fpn_hidden_size,
                                                     alone[out].options());
      w_pos.check(ours.expand(pos.sizes()), pos, pos_name);
    }
    ++out;
    ++checked;
  }
  EXPECT_EQ(out, alone.size());
  EXPECT_GE(checked, 3);
}

TEST(FpnNeck, DetectorNeckMatchesReferenceBatch1) {
  const Fixture fx("sam3-tiny-seed0/sam3_image");
  const testing::BoundModel b = testing::bind_model(fx.dir());
  ASSERT_TRUE(b.modules->detector.has_value());
  ASSERT_TRUE(fx.has_intermediate("c0_hf_text_only.vision_encoder.neck.1.0"));
  check_neck(fx, *b.modules->vision_backbone, b.modules->detector->neck, b.modules->config.detector->vision,
             "c0_hf_text_only");
}

TEST(FpnNeck, DetectorNeckMatchesReferenceBatch2) {
  const Fixture fx("sam3-tiny-seed0/sam3_image");
  const testing::BoundModel b = testing::bind_model(fx.dir());
  check_neck(fx, *b.modules->vision_backbone, b.modules->detector->neck, b.modules->config.detector->vision,
             "c2_batch2_padded_boxes");
}

TEST(FpnNeck, TrackerNeckMatchesReference) {
  const Fixture fx("sam3-tiny-seed0/sam3_tracker");
  const testing::BoundModel b = testing::bind_model(fx.dir());
  ASSERT_TRUE(b.modules->sam3_tracker_encoder.has_value());
  ASSERT_TRUE(fx.has_intermediate("t0_points_box.vision_encoder.neck.1.0"));
  check_neck(fx, *b.modules->vision_backbone, b.modules->sam3_tracker_encoder->neck(), *b.modules->config.tracker->vision,
             "t0_points_box");
}

}  // namespace
}  // namespace sam3rt
