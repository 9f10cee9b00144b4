// The video tracker's memory encoder alone against the sam3_tracker_video fixture: fed the
// frame's tracker features and the mask the reference's own mask decoder produced (taken
// from the fixture's intermediates, made into the memory encoder's input as
// Sam3TrackerVideoModel does), it must reproduce the recorded memory features and their
// position encoding, for prompted frames (binarised masks) and for a tracked frame with
// two objects in one batch (sigmoid masks).
#include <gtest/gtest.h>

#include <ATen/ops/_upsample_bilinear2d_aa.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/upsample_bilinear2d.h>
#include <ATen/ops/zeros.h>

#include <memory>
#include <string>
#include <vector>

#include "io/config.h"
#include "models/modules.h"
#include "models/tracker/tracker.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

using testing::Fixture;

// The sam3_video fixture's checkpoint (the tracker_video fixture has none of its own).
std::unique_ptr<models::Modules> bind_video() {
  return testing::bind_model(testing::data_path("sam3-tiny-seed0/sam3_video")).modules;
}

// The memory encoder's mask input from a recorded mask-decoder call "<name>.0..3": the
// best mask (highest IoU), -1024 where the object is absent, upsampled to the model input
// size S, antialiased to G * total_stride, binarised or sigmoid, then * scale + bias.
at::Tensor memory_mask_from_decoder(const Fixture& fx, const std::string& name, const ModelConfig& c, bool binarise) {
  const auto& vc = *c.tracker->video;
  const int64_t S = c.tracker->image_size;
  const at::Tensor masks = fx.intermediate(name + ".0");   // [1, 1, M, 4G, 4G]
  const at::Tensor iou = fx.intermediate(name + ".1");     // [1, 1, M]
  const at::Tensor score = fx.intermediate(name + ".3");   // [1, 1, 1]
  const int64_t best = iou.view({-1}).argmax().item<int64_t>();
  at::Tensor low = masks.select(2, best);  // [1, 1, 4G, 4G]
  if (score.item<float>() <= 0) low = low.mul(0).add(-1024.0);
  const int64_t side = low.size(-1) * 4;
  at::Tensor high = at::upsample_bilinear2d(low, {S, S}, false);
  high = at::_upsample_bilinear2d_aa(high, {side, side}, false, c10::nullopt, c10::nullopt);
  at::Tensor m = binarise ? high.gt(0).to(at::kFloat) : at::sigmoid(high);
  return m.mul(vc.sigmoid_scale_for_mem_enc).add(vc.sigmoid_bias_for_mem_enc);
}

TEST(MemoryEncoder, MatchesTransformersOnPromptedAndTrackedFrames) {
  Fixture fx("sam3-tiny-seed0/sam3_tracker_video");
  Fixture video("sam3-tiny-seed0/sam3_video");
  const std::unique_ptr<models::Modules> m = bind_video();
  const models::MemoryEncoder& enc = m->tracker->memory->memory_encoder;
  const at::Tensor pixels = video.input("video.pixel_values");
  auto level_g = [&](int64_t f) {
    return models::encode_tracker_image(*m->tracker, *m->frame_encoder, pixels.select(0, f).unsqueeze(0)).levels[2];  // [1, d, G, G]
  };
  const int64_t G = m->tracker->prompt_encoder.grid();
  testing::WorstRelL2 w("memory encoder");
  auto check = [&](const at::Tensor& ours, const std::string& ref) { w.check(ours, fx.intermediate(ref), ref); };

  // Prompted frame 0, one object per call: binarised masks.
  const at::Tensor f0 = level_g(0);
  for (const std::string stage : {"add_obj1", "add_obj2"}) {
    const std::string p = "tv0_points_box." + stage + ".frame0.";
    const at::Tensor mask = memory_mask_from_decoder(fx, p + "mask_decoder", m->config, /*binarise=*/true);
    check(enc.forward(f0, mask), p + "memory_encoder.0");
    check(enc.position_encoding(G, f0.options()), p + "memory_encoder.1");
  }
  // Tracked frame 1, both objects batched: sigmoid masks.
  const std::string p = "tv0_points_box.propagate.frame1.";
  const at::Tensor mask = at::cat({memory_mask_from_decoder(fx, p + "mask_decoder", m->config, false),
                                   memory_mask_from_decoder(fx, p + "mask_decoder#call1", m->config, false)},
                                  0);
  check(enc.forward(level_g(1).expand({2, -1, -1, -1}), mask), p + "memory_encoder.0");
  check(enc.position_encoding(G, f0.options()).expand({2, -1, -1, -1}), p + "memory_encoder.1");
}

TEST(MemoryEncoder, RejectsMisShapedInputs) {
  const std::unique_ptr<models::Modules> m = bind_video();
  const models::MemoryEncoder& enc = m->tracker->memory->memory_encoder;
  const auto& c = *m->config.tracker;
  const int64_t d = c.video->memory_encoder_hidden_size;
  const int64_t G = m->tracker->prompt_encoder.grid();
  const int64_t side = G * c.video->mask_downsampler_total_stride;
  const at::Tensor f = at::zeros({1, d, G, G});
  EXPECT_NO_THROW(enc.forward(f, at::zeros({1, 1, side, side})));
  EXPECT_THROW(enc.forward(f, at::zeros({1, 1, side / 2, side / 2})), Error);
  EXPECT_THROW(enc.forward(f, at::zeros({2, 1, side, side})), Error);
  EXPECT_THROW(enc.forward(at::zeros({1, d + 1, G, G}), at::zeros({1, 1, side, side})), Error);
}

}  // namespace
}  // namespace sam3rt
