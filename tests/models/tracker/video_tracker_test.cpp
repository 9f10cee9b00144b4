// The video tracker from clicks and boxes against transformers' Sam3TrackerVideoModel
// (sam3_tracker_video fixture, checkpoint and frames from the sam3_video fixture): every
// frame's object ids, low-resolution mask logits, object scores and video-resolution
// logits, and every recorded intermediate (prompt encoder, mask decoder, memory attention,
// object pointers, memory encoder) of the two cases: tv0 (a two-click object and a box
// object on frame 0, propagated over the clip) and tv1 (a correction click on the already
// tracked frame 3, propagated again from there). Plus the bounded memory bank, reverse
// propagation, mask prompts and bad input.
#include <gtest/gtest.h>

#include <ATen/ops/equal.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/_upsample_bilinear2d_aa.h>
#include <ATen/ops/upsample_bilinear2d.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/config.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/modules.h"
#include "models/tracker/video_tracker.h"
#include "pipeline/verify_video.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

using models::VideoFrame;
using models::VideoFrameResult;
using models::VideoTracker;
using models::VideoTrackerOptions;
using models::VideoTrackerTrace;
using testing::Fixture;
using testing::WorstRelL2;

// The bound for per-frame masks and scores; intermediates are held to the fp32
// parity bound.
constexpr double kFrameRelL2 = 1e-3;

struct Env {
  Fixture fx{"sam3-tiny-seed0/sam3_tracker_video"};
  Fixture video{"sam3-tiny-seed0/sam3_video"};
  std::unique_ptr<models::Modules> m = testing::bind_model(video.dir()).modules;
  at::Tensor pixels;  // [T, 3, S, S]
  int64_t height = 0, width = 0;

  Env() {
    pixels = video.input("video.pixel_values");
    const at::Tensor frames = video.input("video.frames_uint8_thwc");
    height = frames.size(1);
    width = frames.size(2);
  }
  int64_t num_frames() const { return pixels.size(0); }
  VideoFrame frame(int64_t i) const { return VideoFrame{i, pixels.select(0, i).unsqueeze(0), {}}; }
};

const Env& env() {
  static const Env e;
  return e;
}

using testing::to_vector;

// Per-frame outputs of `prefix` (e.g. "tv0_points_box.propagate.frame3.").
void check_outputs(WorstRelL2& par, const std::string& prefix, const VideoFrameResult& r) {
  const Env& e = env();
  // Output `kind` of this frame, e.g. "<prefix>pred_masks".
  auto check = [&](const std::string& kind, const at::Tensor& ours) {
    par.group(kind).check_values(ours, e.fx.output(prefix + kind), prefix + kind, kFrameRelL2);
  };
  EXPECT_EQ(r.object_ids, to_vector(e.fx.output(prefix + "object_ids"))) << prefix;
  check("pred_masks", r.masks);
  check("object_score_logits", r.object_score_logits);
  check("video_res_mask_logits", at::upsample_bilinear2d(r.masks, {e.height, e.width}, /*align_corners=*/false));
}

// Every intermediate the reference recorded under `prefix` for this frame. The reference
// names a module's k-th call in the frame "<module>#call<k>".
void check_intermediates(WorstRelL2& par, const std::string& prefix, const VideoTrackerTrace& t) {
  const Env& e = env();
  std::map<std::string, int> calls;
  auto name = [&](const std::string& module) {
    const int k = calls[module]++;
    return prefix + module + (k ? "#call" + std::to_string(k) : "");
  };
  auto check = [&](const std::string& kind, const at::Tensor& ours, const std::string& ref_name) {
    if (e.fx.has_intermediate(ref_name)) par.group(kind).check_values(ours, e.fx.intermediate(ref_name), ref_name);
  };
  int checked = 0;
  for (const VideoTrackerTrace::ObjectStep& s : t.objects) {
    if (s.memory_attention.defined()) {
      const std::string n = name("memory_attention");
      EXPECT_TRUE(e.fx.has_intermediate(n) || prefix.find(".add_obj") != std::string::npos) << n;
      check("memory_attention", s.memory_attention, n);
      ++checked;
    }
    const std::string pe = name("prompt_encoder");
    check("prompt_encoder", s.prompts.prompts.sparse, pe + ".0");
    check("prompt_encoder", s.prompts.prompts.dense, pe + ".1");
    const std::string md = name("mask_decoder");
    ASSERT_TRUE(e.fx.has_intermediate(md + ".0")) << md;
    check("mask_decoder", s.decoder.masks, md + ".0");
    check("mask_decoder", s.decoder.iou_scores, md + ".1");
    check("mask_decoder", s.decoder.sam_tokens, md + ".2");
    check("mask_decoder", s.decoder.object_score_logits, md + ".3");
    check("object_pointer_proj", s.object_pointer_proj, name("object_pointer_proj"));
    ++checked;
  }
  if (t.memory_features.defined()) {
    const std::string me = name("memory_encoder");
    check("memory_encoder", t.memory_features, me + ".0");
    check("memory_encoder", t.memory_pos, me + ".1");
  }
  // Nothing recorded by the reference for this frame went unmatched.
  EXPECT_FALSE(e.fx.has_intermediate(name("mask_decoder") + ".0")) << prefix << ": the reference decoded more objects";
}

void check_frame(WorstRelL2& par, const std::string& prefix, const VideoFrameResult& r, const VideoTrackerTrace& t) {
  check_outputs(par, prefix, r);
  check_intermediates(par, prefix, t);
}

at::Tensor points_of(const at::Tensor& t) { return t.reshape({-1, 2}); }
at::Tensor labels_of(const at::Tensor& t) { return t.reshape({-1}); }

// tv0: object 1 = two clicks on frame 0, object 2 = a box on frame 0, each tracked on
// frame 0 as they are added, then the clip propagated from frame 0.
void run_tv0(VideoTracker& vt, WorstRelL2& par) {
  const Env& e = env();
  const Fixture& fx = e.fx;
  VideoTrackerTrace trace;
  vt.add_points(1, 0, points_of(fx.input("obj1.frame0.point_coords_model")),
                labels_of(fx.input("obj1.frame0.point_labels_model")));
  check_frame(par, "tv0_points_box.add_obj1.frame0.", vt.track(e.frame(0), false, &trace), trace);
  vt.add_box(2, 0, fx.input("obj2.frame0.point_coords_model").reshape({4}));
  check_frame(par, "tv0_points_box.add_obj2.frame0.", vt.track(e.frame(0), false, &trace), trace);
  for (int64_t f = 0; f < e.num_frames(); ++f) {
    check_frame(par, "tv0_points_box.propagate.frame" + std::to_string(f) + ".", vt.track(e.frame(f), false, &trace),
                trace);
  }
}

TEST(VideoTracker, PromptsInModelCoordinatesMatchTheProcessor) {
  // The fixture's prompts in video pixels, scaled to the S x S model input as
  // Sam3TrackerVideoProcessor does; a box becomes two points labelled 2, 3.
  const Env& e = env();
  const double S = static_cast<double>(e.m->config.tracker->image_size);
  auto to_model = [&](const at::Tensor& xy) {
    at::Tensor p = xy.reshape({-1, 2}).clone();
    p.select(1, 0).mul_(S / static_cast<double>(e.width));
    p.select(1, 1).mul_(S / static_cast<double>(e.height));
    return p;
  };
  SAM3RT_EXPECT_CLOSE(to_model(e.fx.input("obj1.frame0.points_video_px")),
                      e.fx.input("obj1.frame0.point_coords_model").reshape({-1, 2}), 1e-6);
  SAM3RT_EXPECT_CLOSE(to_model(e.fx.input("obj2.frame0.box_xyxy_video_px")),
                      e.fx.input("obj2.frame0.point_coords_model").reshape({-1, 2}), 1e-6);
  SAM3RT_EXPECT_CLOSE(to_model(e.fx.input("obj1.frame3.correction_point_video_px")),
                      e.fx.input("obj1.frame3.point_coords_model").reshape({-1, 2}), 1e-6);
  EXPECT_EQ(to_vector(e.fx.input("obj2.frame0.point_labels_model")), (std::vector<int64_t>{2, 3}));
}

TEST(VideoTracker, MatchesTransformersOnClicksBoxAndCorrection) {
  const Env& e = env();
  // tv1 corrects frame 3 after the clip was tracked to its end and re-reads frame 1's
  // memory: transformers keeps every frame's memory, so this session does too.
  VideoTrackerOptions options;
  options.history_radius = -1;
  VideoTracker vt(*e.m->tracker, *e.m->frame_encoder, e.num_frames(), options);
  {
    WorstRelL2 par("tv0_points_box");
    run_tv0(vt, par);
  }
  WorstRelL2 par("tv1_correction_f3");
  vt.add_points(1, 3, points_of(e.fx.input("obj1.frame3.point_coords_model")),
                labels_of(e.fx.input("obj1.frame3.point_labels_model")), /*clear_old=*/false);
  VideoTrackerTrace trace;
  for (int64_t f = 3; f < e.num_frames(); ++f) {
    check_frame(par, "tv1_correction_f3.propagate.frame" + std::to_string(f) + ".", vt.track(e.frame(f), false, &trace),
                trace);
  }
}

TEST(VideoTracker, DefaultHistoryIsBoundedAndTracksTheSame) {
  const Env& e = env();
  const auto& vc = *e.m->config.tracker->video;
  const int64_t radius = std::max(vc.num_maskmem - 1, vc.max_object_pointers_in_encoder - 1);
  // A long "video" cycling through the fixture's frames: the bank must not grow with it.
  const int64_t T = 8 * e.num_frames();
  VideoTracker vt(*e.m->tracker, *e.m->frame_encoder, T);
  {
    WorstRelL2 par("tv0 (bounded history)");
    const Fixture& fx = e.fx;
    vt.add_points(1, 0, points_of(fx.input("obj1.frame0.point_coords_model")),
                  labels_of(fx.input("obj1.frame0.point_labels_model")));
    vt.track(e.frame(0));
    vt.add_box(2, 0, fx.input("obj2.frame0.point_coords_model").reshape({4}));
    vt.track(e.frame(0));
    // The fixture's clip has 6 frames, this session T: only the pointer count differs
    // (min(T, max pointers) vs min(6, max pointers)), equal here as both exceed it.
    ASSERT_GE(e.num_frames(), vc.max_object_pointers_in_encoder);
    vt.propagate([&](int64_t i) { return e.frame(i % e.num_frames()); },
                 [&](const VideoFrameResult& r) {
                   if (r.frame < e.num_frames()) {
                     check_outputs(par, "tv0_points_box.propagate.frame" + std::to_string(r.frame) + ".", r);
                   }
                   // Per object: its conditioning frame and the frames within `radius` of this one.
                   const size_t bound = r.object_ids.size() * (1 + 2 * radius + 1);
                   EXPECT_LE(vt.num_stored_memories(), bound) << "frame " << r.frame;
                 });
  }
  // Two objects: one conditioning frame each, the last frame and the `radius` frames behind it.
  EXPECT_EQ(vt.num_stored_memories(), static_cast<size_t>(2 * (1 + 1 + radius)));
}

TEST(VideoTracker, ReversePropagationAndMaskPrompts) {
  // No reference for these paths here: they must run, give finite masks of the right
  // shape, and respect the prompts' semantics.
  const Env& e = env();
  const int64_t S = e.m->config.tracker->image_size;
  const int64_t G = e.m->tracker->prompt_encoder.grid();
  VideoTracker vt(*e.m->tracker, *e.m->frame_encoder, e.num_frames());
  // A mask prompt on the last frame: its output is the mask itself (logits +-10 at 4G).
  at::Tensor mask = at::zeros({e.height, e.width});
  mask.slice(0, e.height / 4, e.height / 2).slice(1, e.width / 4, e.width / 2).fill_(1);
  const int64_t last = e.num_frames() - 1;
  vt.add_mask(7, last, mask);
  VideoTrackerTrace trace;
  VideoFrameResult r = vt.track(e.frame(last), false, &trace);
  ASSERT_EQ(trace.objects.size(), 1u);
  EXPECT_TRUE(trace.objects[0].mask_input);
  EXPECT_TRUE(trace.objects[0].conditioning);
  EXPECT_EQ(r.object_ids, (std::vector<int64_t>{7}));
  EXPECT_EQ(r.masks.sizes(), (std::vector<int64_t>{1, 1, 4 * G, 4 * G}));
  EXPECT_FLOAT_EQ(r.object_score_logits.item<float>(), 10.0f);
  EXPECT_GE(r.masks.max().item<float>(), 9.0f);
  EXPECT_LE(r.masks.min().item<float>(), -9.0f);
  // A click object on the same frame, then everything backwards to frame 0.
  vt.add_points(8, last, at::tensor({0.3 * S, 0.6 * S}, at::kFloat).view({1, 2}), at::tensor({int64_t{1}}));
  std::vector<int64_t> order;
  vt.propagate([&](int64_t i) { return e.frame(i); },
               [&](const VideoFrameResult& res) {
                 order.push_back(res.frame);
                 EXPECT_EQ(res.object_ids, (std::vector<int64_t>{7, 8}));
                 EXPECT_EQ(res.masks.sizes(), (std::vector<int64_t>{2, 1, 4 * G, 4 * G}));
                 EXPECT_TRUE(at::isfinite(res.masks).all().item<bool>());
               },
               /*start=*/-1, /*max_frames=*/-1, /*reverse=*/true);
  std::vector<int64_t> expected;
  for (int64_t f = last; f >= 0; --f) expected.push_back(f);
  EXPECT_EQ(order, expected);
  // The conditioning frame met again returns its stored result.
  const VideoFrameResult again = vt.track(e.frame(last));
  EXPECT_TRUE(at::equal(again.masks.select(0, 0), r.masks.select(0, 0)));
}

TEST(VideoTracker, RejectsBadInput) {
  const Env& e = env();
  VideoTracker vt(*e.m->tracker, *e.m->frame_encoder, e.num_frames());
  EXPECT_THROW(vt.track(e.frame(0)), Error);  // no objects
  EXPECT_THROW(vt.add_points(1, e.num_frames(), at::zeros({1, 2}), at::tensor({int64_t{1}})), Error);
  EXPECT_THROW(vt.add_points(1, 0, at::zeros({1, 3}), at::tensor({int64_t{1}})), Error);
  EXPECT_THROW(vt.add_points(1, 0, at::zeros({2, 2}), at::tensor({int64_t{1}})), Error);
  EXPECT_THROW(vt.add_box(1, 0, at::zeros({3})), Error);
  EXPECT_THROW(vt.add_mask(1, 0, at::zeros({4})), Error);
  // An object first prompted on frame 2 is absent on frame 1 (before frame 2 ran), and
  // frame 1 does not become one of its conditioning frames.
  vt.add_points(1, 2, at::tensor({10.0f, 20.0f}).view({1, 2}), at::tensor({int64_t{1}}));
  const VideoFrameResult before = vt.track(e.frame(1));
  EXPECT_EQ(before.object_score_logits.item<float>(), -1024.0f);
  EXPECT_EQ(before.masks.max().item<float>(), -1024.0f);
  EXPECT_EQ(vt.num_stored_memories(), 0u);
  // Wrong pixel size.
  VideoFrame bad{2, at::zeros({1, 3, 8, 8}), {}};
  EXPECT_THROW(vt.track(bad), Error);
  vt.track(e.frame(2));
  EXPECT_EQ(vt.num_stored_memories(), 1u);
  // A checkpoint without memory modules.
  const testing::BoundModel tracker_only = testing::bind_model(testing::data_path("sam3-tiny-seed0/sam3_tracker"));
  EXPECT_THROW(VideoTracker(*tracker_only.modules->tracker, *tracker_only.modules->frame_encoder, 3), Error);
}

TEST(VideoTracker, MetaMemoryMaskOptionOnlyChangesUnpromptedObjects) {
  // On tv1's frame 3 only object 1 has a click. transformers encodes object 2's memory
  // there from its binarised mask too; with the per-object (Meta) rule object 2's memory
  // uses the sigmoid, which shows in object 2 on frame 4, while frame 3 itself and object
  // 1 everywhere stay as the reference has them.
  const Env& e = env();
  VideoTrackerOptions options;
  options.history_radius = -1;
  options.binarize_memory_masks_of_all_objects = false;
  VideoTracker vt(*e.m->tracker, *e.m->frame_encoder, e.num_frames(), options);
  {
    WorstRelL2 par("tv0 (per-object masks)");
    run_tv0(vt, par);
  }
  vt.add_points(1, 3, points_of(e.fx.input("obj1.frame3.point_coords_model")),
                labels_of(e.fx.input("obj1.frame3.point_labels_model")), /*clear_old=*/false);
  WorstRelL2 par("tv1 (per-object masks)");
  check_outputs(par, "tv1_correction_f3.propagate.frame3.", vt.track(e.frame(3)));
  const VideoFrameResult r4 = vt.track(e.frame(4));
  const at::Tensor ref4 = e.fx.output("tv1_correction_f3.propagate.frame4.pred_masks");
  par.group("pred_masks object 1")
      .check_values(r4.masks.select(0, 0), ref4.select(0, 0), "frame 4 object 1", kFrameRelL2);
  EXPECT_GT(testing::rel_l2(r4.masks.select(0, 1), ref4.select(0, 1)), 1e-4) << "object 2's frame-3 memory unchanged";
}

TEST(VideoTracker, AbsentObjectsGiveNoObjectScores) {
  // The fixture's objects are all present. With the object-score head's bias lowered,
  // every object is absent: all mask logits are the no-object score on every frame, and
  // tracking goes on from the occlusion memories and no-object pointers.
  const Env& e = env();
  const std::string ckpt = testing::data_path("sam3-tiny-seed0/sam3_video/model.safetensors");
  const auto file = io::SafetensorsFile::open(ckpt);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& t : file->tensors()) tensors[t.name] = file->tensor(t);
  const std::string bias = "tracker_model.mask_decoder.pred_obj_score_head.proj_out.bias";
  ASSERT_TRUE(tensors.count(bias));
  tensors[bias] = tensors[bias].sub(100.0);
  io::WeightStore store(std::move(tensors));
  const auto m = models::bind_modules(load_model_config(testing::data_path("sam3-tiny-seed0/sam3_video/config.json")), store);
  store.finish("absent-object checkpoint");
  VideoTracker vt(*m->tracker, *m->frame_encoder, e.num_frames());
  vt.add_points(1, 0, points_of(e.fx.input("obj1.frame0.point_coords_model")),
                labels_of(e.fx.input("obj1.frame0.point_labels_model")));
  vt.add_box(2, 0, e.fx.input("obj2.frame0.point_coords_model").reshape({4}));
  int frames = 0;
  vt.propagate([&](int64_t i) { return e.frame(i); },
               [&](const VideoFrameResult& r) {
                 ++frames;
                 EXPECT_EQ(r.object_ids, (std::vector<int64_t>{1, 2}));
                 EXPECT_TRUE((r.object_score_logits.le(0)).all().item<bool>()) << "frame " << r.frame;
                 EXPECT_EQ(r.masks.min().item<float>(), -1024.0f) << "frame " << r.frame;
                 EXPECT_EQ(r.masks.max().item<float>(), -1024.0f) << "frame " << r.frame;
               },
               /*start=*/0);
  EXPECT_EQ(frames, e.num_frames());
}

// The verification hook for threshold flips (issue: parity drift after corrections):
// given reference logits for a binarised memory mask, the tracker counts the pixels that
// fall on the other side of 0 and encodes the memory from the reference's binarisation.
// Shifting its own logits by +d must flip exactly the pixels in (-d, 0] of its high-res
// mask, and change the memory only then.
TEST(VideoTracker, MemoryMaskFlipsAgainstAReferenceAreCountedAndTaken) {
  const Env& e = env();
  const Fixture& fx = e.fx;
  auto first_frame = [&](VideoTrackerOptions o, VideoTrackerTrace& trace) {
    VideoTracker vt(*e.m->tracker, *e.m->frame_encoder, e.num_frames(), o);
    vt.add_points(1, 0, points_of(fx.input("obj1.frame0.point_coords_model")),
                  labels_of(fx.input("obj1.frame0.point_labels_model")));
    return vt.track(e.frame(0), false, &trace);
  };
  VideoTrackerTrace plain;
  const VideoFrameResult r = first_frame({}, plain);
  EXPECT_TRUE(plain.memory_mask_flips.empty());
  const at::Tensor low = r.masks.select(0, 0);  // [1, 4G, 4G], what the memory mask is made from
  const int64_t S = env().m->tracker->prompt_encoder.config().image_size;
  const int64_t side = 4 * low.size(-1);
  const at::Tensor high =
      at::_upsample_bilinear2d_aa(at::upsample_bilinear2d(low.unsqueeze(0), {S, S}, false), {side, side}, false,
                                  c10::nullopt, c10::nullopt);
  for (const double d : {0.0, 1e-2, 0.5}) {
    // The same chain on logits + d: a pixel flips when its high-res logit lies in (-d, 0].
    const at::Tensor shifted = at::_upsample_bilinear2d_aa(
        at::upsample_bilinear2d(low.add(d).unsqueeze(0), {S, S}, false), {side, side}, false, c10::nullopt,
        c10::nullopt);
    const int64_t expected = shifted.gt(0).ne(high.gt(0)).sum().item<int64_t>();
    VideoTrackerOptions o;
    o.reference_memory_mask_logits = [&](int64_t f, int64_t id) {
      EXPECT_EQ(f, 0);
      EXPECT_EQ(id, 1);
      return low.add(d);
    };
    VideoTrackerTrace t;
    first_frame(o, t);
    ASSERT_EQ(t.memory_mask_flips.size(), 1u) << d;
    EXPECT_EQ(t.memory_mask_flips[0].pixels, expected) << d;
    if (d > 0.1) EXPECT_GT(expected, 0);  // the check has pixels to count
    if (expected > 0) {
      EXPECT_LE(t.memory_mask_flips[0].largest_logit, d + 1e-5) << d;
      EXPECT_FALSE(at::equal(t.memory_features, plain.memory_features)) << d;
    } else {
      EXPECT_TRUE(at::equal(t.memory_features, plain.memory_features)) << d;
    }
  }
}

TEST(VideoTracker, VerifyToolRunsTheFixture) {
  // `sam3rt verify` on the tracker-video folder: every recorded output and intermediate is
  // compared and within the fp32 bound; only nothing-produced tensors may be skipped.
  pipeline::VerifyOptions options;
  std::vector<pipeline::TensorComparison> results;
  std::vector<std::string> skipped;
  pipeline::verify_tracker_video(testing::data_path("sam3-tiny-seed0/sam3_tracker_video"), options,
                                 [&](const pipeline::TensorComparison& c) { results.push_back(c); },
                                 [&](const std::string& s) { skipped.push_back(s); });
  const Env& e = env();
  // The files are held while their tensor lists are read (a range-for over a temporary's
  // member outlived the file: found by the ASan build).
  const auto outputs = io::SafetensorsFile::open(e.fx.dir() + "/reference_outputs.safetensors");
  const auto intermediates = io::SafetensorsFile::open(e.fx.dir() + "/reference_intermediates.safetensors");
  const size_t expected = outputs->tensors().size() + intermediates->tensors().size();
  EXPECT_EQ(results.size(), expected);
  EXPECT_TRUE(skipped.empty()) << skipped.front();
  double worst = 0.0;
  for (const auto& c : results) {
    EXPECT_TRUE(c.ok()) << c.name << ": rel-L2 " << c.rel_l2 << ", max abs " << c.max_abs;
    worst = std::max(worst, c.rel_l2);
  }
  std::printf("[ verify   ] %zu tensors, worst rel-L2 %.3g\n", results.size(), worst);
}

}  // namespace
}  // namespace sam3rt
