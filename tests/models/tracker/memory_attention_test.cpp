// The video tracker's memory attention (with the memory bank's selection and assembly of
// spatial memories and object pointers) against the sam3_tracker_video fixture: the
// memory bank is filled with the reference's own recorded memory features and object
// pointers, so the memory attention's output on the next frames is checked in isolation
// from the rest of the tracker.
#include <gtest/gtest.h>

#include <ATen/ops/zeros.h>

#include <memory>
#include <string>

#include "models/modules.h"
#include "models/tracker/memory_bank.h"
#include "models/tracker/tracker.h"
#include "nn/position_encoding.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

using testing::Fixture;

// The sam3_video fixture's checkpoint (the tracker_video fixture has none of its own).
std::unique_ptr<models::Modules> bind_video() {
  return testing::bind_model(testing::data_path("sam3-tiny-seed0/sam3_video")).modules;
}

// A memory-bank entry made of the reference's recorded values: memory features (with the
// occlusion embedding where the object is absent, stored in bfloat16) and the object
// pointer (the no-object pointer where absent).
models::MemoryBankEntry reference_entry(const models::TrackerMemoryModules& mem, const at::Tensor& features,
                                        const at::Tensor& pointer_proj, const at::Tensor& score) {
  const bool present = score.item<float>() > 0;
  at::Tensor f = features;  // [1, mem, G, G]
  if (!present && mem.occlusion_spatial_embedding.defined()) {
    f = f.add(mem.occlusion_spatial_embedding.view({1, -1, 1, 1}));
  }
  models::MemoryBankEntry e;
  e.features = f.to(at::kBFloat16).flatten(2).squeeze(0).transpose(0, 1).contiguous();  // [HW, mem]
  e.object_pointer = present ? pointer_proj.reshape({1, -1}) : mem.no_object_pointer;
  e.object_score_logits = score.reshape({1, 1});
  return e;
}

TEST(MemoryAttention, MatchesTransformersFedReferenceMemories) {
  Fixture fx("sam3-tiny-seed0/sam3_tracker_video");
  Fixture video("sam3-tiny-seed0/sam3_video");
  const std::unique_ptr<models::Modules> m = bind_video();
  const models::TrackerMemoryModules& mem = *m->tracker->memory;
  const TrackerVideoConfig& vc = *m->config.tracker->video;
  const at::Tensor pixels = video.input("video.pixel_values");
  const int64_t num_frames = pixels.size(0);
  const int64_t G = m->tracker->prompt_encoder.grid();
  const int64_t d = m->tracker->no_memory_embedding.size(-1);
  const at::Tensor memory_pos_grid =
      mem.memory_encoder.position_encoding(G, pixels.options()).flatten(2).squeeze(0).transpose(0, 1);  // [HW, mem]
  const at::Tensor vision_pos = nn::sine_position_grid(G, G, d, pixels.options()).flatten(2).transpose(1, 2);  // [1, HW, d]

  testing::WorstRelL2 w("memory attention");
  for (int obj = 0; obj < 2; ++obj) {
    const std::string call = obj == 0 ? "" : "#call1";
    const std::string add = "tv0_points_box.add_obj" + std::to_string(obj + 1) + ".frame0.";
    models::ObjectMemoryBank bank;
    bank.store(0,
               reference_entry(mem, fx.intermediate(add + "memory_encoder.0"),
                               fx.intermediate(add + "object_pointer_proj"), fx.intermediate(add + "mask_decoder.3")),
               /*conditioning=*/true);
    for (int64_t f = 1; f <= 2; ++f) {
      const std::string p = "tv0_points_box.propagate.frame" + std::to_string(f) + ".";
      const models::MemorySelection sel = bank.select(f, /*reverse=*/false, num_frames, vc);
      const models::MemoryInputs mi = models::assemble_memory(mem, vc, sel, memory_pos_grid);
      const at::Tensor level = models::encode_tracker_image(*m->tracker, *m->frame_encoder, pixels.select(0, f).unsqueeze(0)).levels[2];
      const at::Tensor ours = mem.memory_attention.forward(level.flatten(2).transpose(1, 2), vision_pos, mi.memory,
                                                           mi.memory_pos, mi.num_object_pointer_tokens);
      const std::string ref = p + "memory_attention" + call;
      SCOPED_TRACE(ref);
      w.check_values(ours, fx.intermediate(ref), ref);
      if (f == 1) {
        // Frame 1's memory (recorded batched over both objects) for frame 2.
        bank.store(1,
                   reference_entry(mem, fx.intermediate(p + "memory_encoder.0").slice(0, obj, obj + 1),
                                   fx.intermediate(p + "object_pointer_proj" + call),
                                   fx.intermediate(p + "mask_decoder" + call + ".3")),
                   /*conditioning=*/false);
        EXPECT_EQ(sel.spatial.size(), 1u);
        EXPECT_EQ(sel.pointers.size(), 1u);
      } else {
        EXPECT_EQ(sel.spatial.size(), 2u);   // conditioning frame 0 and frame 1
        EXPECT_EQ(sel.pointers.size(), 2u);  // frame 0 (offset 2) and frame 1 (offset 1)
      }
    }
  }
}

TEST(MemoryBank, SelectsConditioningFramesAndRecentMemories) {
  // max_cond_frame_num 2 of conditioning frames {0, 4, 9, 20} at frame 10: the closest
  // before (9) and at-or-after (20); 0 and 4 stay unselected, but 4 still serves as the
  // memory of offset 6 when num_maskmem is 7, and the selected past conditioning frames give
  // pointers (every past one with transformers' rule).
  TrackerVideoConfig vc;
  vc.num_maskmem = 7;
  vc.max_cond_frame_num = 2;
  vc.max_object_pointers_in_encoder = 4;
  models::ObjectMemoryBank bank;
  auto entry = [] {
    models::MemoryBankEntry e;
    e.features = at::zeros({4, 2});
    e.object_pointer = at::zeros({1, 2});
    return e;
  };
  for (int64_t t : {0, 4, 9, 20}) bank.store(t, entry(), true);
  for (int64_t t : {7, 8}) bank.store(t, entry(), false);
  const models::MemorySelection s = bank.select(10, false, 100, vc);
  ASSERT_EQ(s.spatial.size(), 5u);  // 9, 20 (slot 6), then 4 (offset 6), 7 (offset 3), 8 (offset 2)
  EXPECT_EQ(s.spatial[0].entry, bank.find(9, true));
  EXPECT_EQ(s.spatial[1].entry, bank.find(20, true));
  EXPECT_EQ(s.spatial[0].slot, 6);
  EXPECT_EQ(s.spatial[2].entry, bank.find(4, true));
  EXPECT_EQ(s.spatial[2].slot, 5);
  EXPECT_EQ(s.spatial[3].slot, 2);
  EXPECT_EQ(s.spatial[4].slot, 1);
  // Pointers (Meta): the selected conditioning frames in the past, 9 (offset 1), then
  // frames 9..7 non-conditioning: 8 (2), 7 (3).
  ASSERT_EQ(s.pointers.size(), 3u);
  EXPECT_EQ(s.pointers[0].entry, bank.find(9, true));
  EXPECT_EQ(s.pointers[0].offset, 1);
  EXPECT_EQ(s.pointers[1].offset, 2);
  EXPECT_EQ(s.pointers[2].offset, 3);
  EXPECT_EQ(s.max_object_pointers, 4);
  // transformers: every past conditioning frame, 0, 4, 9 (offsets 10, 6, 1), then 8, 7.
  const models::MemorySelection t = bank.select(10, false, 100, vc, /*all_conditioning_pointers=*/true);
  ASSERT_EQ(t.spatial.size(), s.spatial.size());
  ASSERT_EQ(t.pointers.size(), 5u);
  EXPECT_EQ(t.pointers[0].offset, 10);
  EXPECT_EQ(t.pointers[1].offset, 6);
  EXPECT_EQ(t.pointers[2].offset, 1);
  EXPECT_EQ(t.pointers[3].offset, 2);
  EXPECT_EQ(t.pointers[4].offset, 3);
  // Reverse: time runs backwards; only conditioning frames at or after 10 give pointers.
  const models::MemorySelection r = bank.select(10, true, 100, vc);
  ASSERT_EQ(r.pointers.size(), 1u);
  EXPECT_EQ(r.pointers[0].offset, 10);
  // Trimming keeps conditioning frames.
  bank.trim(30, 5);
  EXPECT_EQ(bank.num_non_conditioning(), 0u);
  EXPECT_EQ(bank.conditioning().size(), 4u);
  // Without any conditioning frame there is nothing to track from.
  models::ObjectMemoryBank empty;
  EXPECT_THROW(empty.select(3, false, 10, vc), Error);
}

}  // namespace
}  // namespace sam3rt
