// Text-prompted video against transformers' Sam3VideoModel (sam3_video fixture): for both
// cases (v0: text-only detector query as transformers runs it; v1: one padding box per
// detector call, i.e. Meta's CLS-token query) every yielded frame's object ids, low-res
// mask logits, detection and tracker scores, removed / suppressed ids and post-processed
// objects, plus the recorded detector and tracker intermediates of every processed frame.
// Then the paths this clip does not reach, with changed thresholds: reconditioning,
// detection NMS, hole filling, new masklets next to existing ones, hotstart removal, the
// object limit, both output pairings; streaming; another geometry; bad input.
#include <gtest/gtest.h>

#include <ATen/ops/linspace.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "models/modules.h"
#include "models/video/masklet_matching.h"
#include "pipeline/random_checkpoint.h"
#include "pipeline/verify_text_video.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

using models::DetectorQuery;
using models::TextVideoFrameResult;
using models::TextVideoObjects;
using models::TextVideoOptions;
using models::TextVideoSession;
using models::TextVideoTrace;
using testing::Fixture;

// The bound for per-frame masks and scores.
constexpr double kFrameRelL2 = 1e-3;

struct Env {
  Fixture fx{"sam3-tiny-seed0/sam3_video"};
  std::unique_ptr<models::Modules> m = testing::bind_model(fx.dir()).modules;
  at::Tensor pixels, ids, mask;
  int64_t height = 0, width = 0;

  Env() {
    pixels = fx.input("video.pixel_values");
    ids = fx.input("prompt.input_ids");
    mask = fx.input("prompt.attention_mask");
    const at::Tensor frames = fx.input("video.frames_uint8_thwc");
    height = frames.size(1);
    width = frames.size(2);
  }
  int64_t num_frames() const { return pixels.size(0); }
};

const Env& env() {
  static const Env e;
  return e;
}

using testing::to_vector;

template <typename C>
std::vector<int64_t> keys(const C& c) {
  std::vector<int64_t> k;
  for (const auto& e : c) {
    if constexpr (std::is_same_v<typename C::value_type, int64_t>) {
      k.push_back(e);
    } else {
      k.push_back(e.first);
    }
  }
  return k;
}

at::Tensor values(const std::map<int64_t, double>& m) {
  std::vector<double> v;
  for (const auto& [k, x] : m) v.push_back(x);
  return at::tensor(v, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
}

void run_case(const std::string& c, const TextVideoOptions& options, bool check_intermediates = true) {
  const Env& e = env();
  testing::WorstRelL2 par(c);
  TextVideoSession s(*e.m, e.num_frames(), e.height, e.width, options);
  s.add_prompt("prompt", e.ids, e.mask);
  std::vector<int64_t> order;
  std::set<std::string> seen;
  auto on_trace = [&](int64_t f, const TextVideoTrace& t) {
    if (!check_intermediates) return;
    const std::string prefix = c + ".frame" + std::to_string(f) + ".";
    const auto ours = pipeline::text_video_trace_names(t);
    for (const auto& [name, tensor] : ours) {
      if (!e.fx.has_intermediate(prefix + name)) continue;
      seen.insert(prefix + name);
      const std::string kind = name.substr(0, name.find('#')).substr(0, name.find('.', name.find('.') + 1));
      par.group(kind).check_values(tensor, e.fx.intermediate(prefix + name), prefix + name, kFrameRelL2);
    }
  };
  auto on_frame = [&](const TextVideoFrameResult& r, const TextVideoObjects& post) {
    order.push_back(r.frame);
    const std::string p = c + ".frame" + std::to_string(r.frame) + ".";
    SCOPED_TRACE(p);
    // Output `kind` of this frame, e.g. "<p>masks_low_res".
    auto check = [&](const std::string& kind, const at::Tensor& ours) {
      par.group(kind).check_values(ours, e.fx.output(p + kind), p + kind, kFrameRelL2);
    };
    EXPECT_EQ(r.object_ids, to_vector(e.fx.output(p + "object_ids")));
    EXPECT_EQ(r.mask_object_ids, to_vector(e.fx.output(p + "mask_obj_ids")));
    check("masks_low_res", r.masks);
    EXPECT_EQ(keys(r.scores), to_vector(e.fx.output(p + "score_obj_ids")));
    check("scores", values(r.scores));
    EXPECT_EQ(keys(r.tracker_scores), to_vector(e.fx.output(p + "tracker_score_obj_ids")));
    check("tracker_scores", values(r.tracker_scores));
    EXPECT_EQ(keys(r.removed_object_ids), to_vector(e.fx.output(p + "removed_obj_ids")));
    EXPECT_EQ(keys(r.suppressed_object_ids), to_vector(e.fx.output(p + "suppressed_obj_ids")));
    EXPECT_EQ(to_vector(post.object_ids), to_vector(e.fx.output(p + "post.object_ids")));
    check("post.scores", post.scores);
    check("post.boxes", post.boxes);
    check("post.masks", post.masks);
    auto err = [](const at::Tensor& ours, const at::Tensor& ref) {
      return ours.numel() == ref.numel()
                 ? testing::rel_l2(ours.reshape(ref.sizes()).to(at::kFloat).cpu(), ref.to(at::kFloat))
                 : -1.0;
    };
    const bool ids_ok = r.object_ids == to_vector(e.fx.output(p + "object_ids")) &&
                        r.mask_object_ids == to_vector(e.fx.output(p + "mask_obj_ids")) &&
                        to_vector(post.object_ids) == to_vector(e.fx.output(p + "post.object_ids"));
    std::printf("[ frame    ] %-20s frame %lld ids %s  masks %.2e  scores %.2e  tracker %.2e  post.masks %.2e\n",
                c.c_str(), static_cast<long long>(r.frame), ids_ok ? "equal" : "DIFFER",
                err(r.masks, e.fx.output(p + "masks_low_res")), err(values(r.scores), e.fx.output(p + "scores")),
                err(values(r.tracker_scores), e.fx.output(p + "tracker_scores")),
                err(post.masks, e.fx.output(p + "post.masks")));
  };
  s.propagate([&](int64_t i) { return e.pixels.select(0, i).unsqueeze(0); }, on_frame, 0, -1, false, on_trace);
  EXPECT_EQ(order, to_vector(e.fx.output(c + ".yield_order")));
  // Every intermediate the reference recorded for this case was compared.
  const auto inter = io::SafetensorsFile::open(e.fx.dir() + "/reference_intermediates.safetensors");
  for (const auto& t : inter->tensors()) {
    if (check_intermediates && t.name.rfind(c + ".", 0) == 0)
      EXPECT_TRUE(seen.count(t.name)) << t.name << " not produced";
  }
}

TEST(TextVideo, TransformersTextOnlyCaseMatches) { run_case("v0_text_hf", TextVideoOptions::transformers()); }

TEST(TextVideo, PaddingBoxCaseMatches) {
  TextVideoOptions o = TextVideoOptions::transformers();
  o.query = DetectorQuery::kTextAndPaddingBox;
  run_case("v1_text_padbox_cls", o);
}

// Meta's query (geometry encoder without boxes) gives the padding-box case's values.
TEST(TextVideo, MetaClsTokenQueryEqualsThePaddingBoxCase) {
  TextVideoOptions o = TextVideoOptions::transformers();
  o.query = DetectorQuery::kTextAndClsToken;
  run_case("v1_text_padbox_cls", o, /*check_intermediates=*/false);
}

TEST(TextVideo, VerifyToolRunsTheFixture) {
  int n = 0, bad = 0;
  double worst = 0.0;
  std::vector<std::string> skipped;
  pipeline::VerifyOptions vo;
  vo.tolerance = kFrameRelL2;
  pipeline::verify_text_video(
      env().fx.dir(), vo,
      [&](const pipeline::TensorComparison& c) {
        ++n;
        worst = std::max(worst, c.rel_l2);
        if (!c.ok()) {
          ++bad;
          ADD_FAILURE() << c.name << ": rel-L2 " << c.rel_l2 << " max abs " << c.max_abs;
        }
      },
      [&](const std::string& s) { skipped.push_back(s); });
  std::printf("[ verify   ] %d tensors, worst rel-L2 %.3g, %zu skipped\n", n, worst, skipped.size());
  EXPECT_GT(n, 300);
  EXPECT_EQ(bad, 0);
  EXPECT_TRUE(skipped.empty()) << skipped.front();
}

// Frame by frame without a known length (streaming): no hotstart delay in the outputs and
// no hotstart removal, which this clip never needs, so the values are the reference's.
TEST(TextVideo, StreamingFramesGiveTheSameResults) {
  const Env& e = env();
  TextVideoSession s(*e.m, /*num_frames=*/-1, e.height, e.width, TextVideoOptions::transformers());
  s.add_prompt("prompt", e.ids, e.mask);
  for (int64_t f = 0; f < e.num_frames(); ++f) {
    const TextVideoFrameResult r = s.track(f, e.pixels.select(0, f));
    const std::string p = "v0_text_hf.frame" + std::to_string(f) + ".";
    EXPECT_EQ(r.object_ids, to_vector(e.fx.output(p + "object_ids"))) << p;
    SAM3RT_EXPECT_CLOSE(r.masks, e.fx.output(p + "masks_low_res"), kFrameRelL2);
    SAM3RT_EXPECT_CLOSE(values(r.tracker_scores), e.fx.output(p + "tracker_scores"), kFrameRelL2);
    const TextVideoObjects post = s.postprocess(r);
    EXPECT_TRUE(post.masks.cpu().equal(e.fx.output(p + "post.masks"))) << p;
  }
}

// The fixture's modules bound again with other pipeline thresholds.
std::unique_ptr<models::Modules> with_config(const std::function<void(VideoPipelineConfig&)>& edit) {
  ModelConfig config = load_model_config(env().fx.dir() + "/config.json");
  edit(*config.video);
  return testing::bind_model(env().fx.dir(), config).modules;
}

// Probability of each detection of the first prompt on a traced frame.
at::Tensor detection_probs(const TextVideoTrace& t) {
  const auto& o = t.detections.at(0).output;
  return o.pred_logits.sigmoid().mul(o.presence_logits.sigmoid()).select(0, 0);
}

// Periodic reconditioning: with every detection confident enough and every frame a
// reconditioning frame, a confirmed masklet's output is the detector's mask of the frame.
TEST(TextVideo, ReconditionedMaskletsOutputTheDetectorMask) {
  const Env& e = env();
  for (bool on_trk_masks : {true, false}) {
    auto m = with_config([&](VideoPipelineConfig& c) {
      c.high_iou_thresh = 0.0;
      c.recondition_every_nth_frame = 1;
      c.recondition_on_trk_masks = on_trk_masks;
    });
    const double thr = m->config.video->score_threshold_detection;
    TextVideoSession s(*m, e.num_frames(), e.height, e.width, TextVideoOptions::transformers());
    s.add_prompt("prompt", e.ids, e.mask);
    int reconditioned = 0;
    for (int64_t f = 0; f < e.num_frames(); ++f) {
      TextVideoTrace t;
      const TextVideoFrameResult r = s.track(f, e.pixels.select(0, f), false, &t);
      const at::Tensor probs = detection_probs(t);
      const at::Tensor above = probs.gt(thr).nonzero().view({-1});
      if (f == 0 || above.numel() != 1) continue;  // frame 0 starts the masklet
      // One confident detection matching the one masklet: the frame is reconditioned.
      ASSERT_EQ(r.mask_object_ids, (std::vector<int64_t>{0}));
      const at::Tensor det_mask = t.detections[0].output.pred_masks[0][above[0].item<int64_t>()];
      EXPECT_TRUE(r.masks[0].equal(det_mask)) << "frame " << f;
      ++reconditioned;
    }
    EXPECT_GE(reconditioned, 3);
  }
}

// Detection NMS: the two detections of v1's first frame are near duplicates; with NMS only
// the better one starts a masklet.
TEST(TextVideo, DetectionNmsDropsDuplicates) {
  const Env& e = env();
  auto m = with_config([](VideoPipelineConfig& c) { c.det_nms_thresh = 0.5; });
  TextVideoOptions o = TextVideoOptions::transformers();
  o.query = DetectorQuery::kTextAndPaddingBox;
  TextVideoSession with(*m, e.num_frames(), e.height, e.width, o);
  with.add_prompt("prompt", e.ids, e.mask);
  EXPECT_EQ(with.track(0, e.pixels.select(0, 0)).object_ids, (std::vector<int64_t>{0}));
  o.nms = false;  // the switch turns it off again
  TextVideoSession without(*m, e.num_frames(), e.height, e.width, o);
  without.add_prompt("prompt", e.ids, e.mask);
  EXPECT_EQ(without.track(0, e.pixels.select(0, 0)).object_ids, (std::vector<int64_t>{0, 1}));
}

// Hole filling on: masks only change where the hole / sprinkle rules say (values 0.1 and
// -0.1), and the new masklet's output is the filled detector mask.
TEST(TextVideo, HoleFillingOnlyTouchesSmallComponents) {
  const Env& e = env();
  auto m = with_config([](VideoPipelineConfig& c) { c.fill_hole_area = 8; });
  auto first_frame = [&](const models::Modules& mods) {
    TextVideoSession s(mods, e.num_frames(), e.height, e.width, TextVideoOptions::transformers());
    s.add_prompt("prompt", e.ids, e.mask);
    return s.track(0, e.pixels.select(0, 0)).masks;
  };
  const at::Tensor filled = first_frame(*m), plain = first_frame(*e.m);
  ASSERT_EQ(filled.sizes(), plain.sizes());
  EXPECT_TRUE(filled.equal(models::fill_holes_in_mask_scores(plain.unsqueeze(1), 8).squeeze(1)));
  const at::Tensor changed = filled.ne(plain);
  EXPECT_TRUE(changed.any().item<bool>());  // this detector mask has small holes / sprinkles
  const at::Tensor allowed = filled.eq(0.1f).logical_or(filled.eq(-0.1f));
  EXPECT_FALSE(changed.logical_and(allowed.logical_not()).any().item<bool>());
}

// A clip where nothing matches (association thresholds above 1): every confident
// detection starts a masklet each frame up to max_num_objects, every masklet is unmatched,
// and hotstart removes the young ones. Exercises new masklets next to existing ones,
// removal and the object limit; both output pairings agree on everything but the
// documented shift.
TEST(TextVideo, NewMaskletsRemovalsAndObjectLimit) {
  const Env& e = env();
  auto m = with_config([](VideoPipelineConfig& c) {
    c.assoc_iou_thresh = 1.1;
    c.trk_assoc_iou_thresh = 1.1;
    c.hotstart_delay = 4;
    c.max_num_objects = 3;
  });
  struct Run {
    std::vector<TextVideoFrameResult> frames;
    std::vector<TextVideoObjects> post;
    std::set<int64_t> hotstart_removed;
  };
  auto run = [&](bool meta_pairing) {
    TextVideoOptions o = TextVideoOptions::transformers();
    o.query = DetectorQuery::kTextAndPaddingBox;
    o.meta_output_pairing = meta_pairing;
    TextVideoSession s(*m, e.num_frames(), e.height, e.width, o);
    s.add_prompt("prompt", e.ids, e.mask);
    Run out;
    s.propagate([&](int64_t i) { return e.pixels.select(0, i).unsqueeze(0); },
                [&](const TextVideoFrameResult& r, const TextVideoObjects& p) {
                  out.frames.push_back(r);
                  out.post.push_back(p);
                });
    out.hotstart_removed = s.hotstart_removed_object_ids();
    return out;
  };
  const Run hf = run(false), meta = run(true);
  ASSERT_EQ(hf.frames.size(), static_cast<size_t>(e.num_frames()));
  bool added_next_to_existing = false, removed_any = false, limited = false;
  std::vector<int64_t> prev;
  for (size_t i = 0; i < hf.frames.size(); ++i) {
    const TextVideoFrameResult& r = hf.frames[i];
    SCOPED_TRACE("frame " + std::to_string(r.frame));
    EXPECT_EQ(r.frame, static_cast<int64_t>(i));
    EXPECT_LE(r.object_ids.size(), 3u);
    EXPECT_TRUE(std::is_sorted(r.object_ids.begin(), r.object_ids.end()));
    for (int64_t id : r.removed_object_ids) {
      EXPECT_EQ(std::count(r.object_ids.begin(), r.object_ids.end(), id), 0);
      EXPECT_EQ(r.scores.at(id), -1e4);
    }
    const std::set<int64_t> prev_set(prev.begin(), prev.end());
    bool has_new = false;
    for (int64_t id : r.object_ids) has_new = has_new || !prev_set.count(id);
    added_next_to_existing = added_next_to_existing || (has_new && !prev.empty());
    removed_any = removed_any || !r.removed_object_ids.empty();
    limited = limited || r.object_ids.size() == 3u;
    // Same state in both runs.
    EXPECT_EQ(r.object_ids, meta.frames[i].object_ids);
    EXPECT_EQ(r.removed_object_ids, meta.frames[i].removed_object_ids);
    EXPECT_EQ(r.scores, meta.frames[i].scores);
    // Propagated mask k goes to ids_after[k] (transformers) or prev[k] (Meta).
    const std::vector<int64_t>& after = r.object_ids;
    auto mask_of = [](const TextVideoFrameResult& x, int64_t id) {
      const auto it = std::find(x.mask_object_ids.begin(), x.mask_object_ids.end(), id);
      return it == x.mask_object_ids.end() ? at::Tensor() : x.masks[it - x.mask_object_ids.begin()];
    };
    for (size_t k = 0; k < std::min(prev.size(), after.size()); ++k) {
      if (!prev_set.count(after[k])) continue;  // a new masklet shows its detector mask
      const at::Tensor a = mask_of(r, after[k]), b = mask_of(meta.frames[i], prev[k]);
      ASSERT_TRUE(a.defined() && b.defined());
      EXPECT_TRUE(a.equal(b)) << "object " << after[k];
    }
    // Post-processing hides every masklet removed by hotstart (known by yield time).
    for (int64_t id : to_vector(hf.post[i].object_ids)) EXPECT_EQ(hf.hotstart_removed.count(id), 0u) << id;
    prev = r.object_ids;
  }
  EXPECT_TRUE(added_next_to_existing);
  EXPECT_TRUE(removed_any);
  EXPECT_TRUE(limited);
}

TEST(TextVideo, RejectsBadInput) {
  const Env& e = env();
  TextVideoSession s(*e.m, e.num_frames(), e.height, e.width);
  EXPECT_THROW(s.track(0, e.pixels.select(0, 0)), Error);  // no prompt yet
  EXPECT_THROW(s.add_prompt("x", at::zeros({1, 4}, at::kFloat), at::zeros({1, 4}, at::kLong)), Error);
  EXPECT_THROW(s.add_prompt("x", at::zeros({1, 4}, at::kLong), at::zeros({1, 3}, at::kLong)), Error);
  EXPECT_EQ(s.add_prompt("prompt", e.ids, e.mask), 0);
  EXPECT_EQ(s.add_prompt("prompt", e.ids, e.mask), 0);  // the same text again
  EXPECT_THROW(s.track(e.num_frames(), e.pixels.select(0, 0)), Error);
  EXPECT_THROW(s.track(-1, e.pixels.select(0, 0)), Error);
  EXPECT_THROW(s.track(0, at::zeros({1, 3, 8, 8})), Error);
  EXPECT_THROW(s.propagate([&](int64_t i) { return e.pixels.select(0, i); }, [](auto&, auto&) {}, e.num_frames()),
               Error);
  EXPECT_THROW(TextVideoSession(*e.m, 0, e.height, e.width), Error);
  EXPECT_THROW(TextVideoSession(*e.m, e.num_frames(), 0, e.width), Error);
  // A checkpoint without the detector and the video thresholds (sam3_tracker layout).
  const testing::BoundModel tracker_only = testing::bind_model(testing::data_path("sam3-tiny-seed0/sam3_tracker"));
  EXPECT_THROW(TextVideoSession(*tracker_only.modules, e.num_frames(), e.height, e.width), Error);
}


// Another geometry: a random checkpoint of the tiny config with 182-pixel inputs (13 x 13
// patches, an odd grid, 52-pixel low-resolution masks, 208-pixel memory masks), a
// non-square portrait video and other pipeline thresholds. Every detection starts a
// masklet up to max_num_objects; the session must run with every size from the config.
TEST(TextVideo, RunsOnAnotherGeometry) {
  std::ifstream in(testing::data_path("sam3-tiny-seed0/sam3_video/config.json"));
  nlohmann::json j = nlohmann::json::parse(in);
  const int64_t image = 182, grid = 13;
  for (auto* vision : {&j["detector_config"]["vision_config"], &j["tracker_config"]["vision_config"]}) {
    (*vision)["backbone_config"]["image_size"] = image;
    (*vision)["backbone_config"]["window_size"] = 5;
    (*vision)["backbone_feature_sizes"] = {{4 * grid, 4 * grid}, {2 * grid, 2 * grid}, {grid, grid}};
  }
  j["tracker_config"]["image_size"] = image;
  j["tracker_config"]["prompt_encoder_config"]["image_size"] = image;
  j["tracker_config"]["memory_attention_rope_feat_sizes"] = {grid, grid};
  j["low_res_mask_size"] = 4 * grid;
  j["score_threshold_detection"] = 0.0;
  j["new_det_thresh"] = 0.0;
  j["max_num_objects"] = 4;
  j["hotstart_delay"] = 3;
  j["recondition_every_nth_frame"] = 2;
  j["fill_hole_area"] = 3;
  j["det_nms_thresh"] = 0.9;
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("sam3rt_text_video_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "input_config.json") << j.dump(2);
  pipeline::make_random_checkpoint((dir / "input_config.json").string(), (dir / "model").string(), {});
  const std::unique_ptr<models::Modules> m = testing::bind_model((dir / "model").string()).modules;

  const int64_t frames = 5, height = 104, width = 80;
  TextVideoSession s(*m, frames, height, width);  // Meta's CLS-token query, NMS and hole filling on
  s.add_prompt("thing", at::tensor(std::vector<int64_t>{98, 7, 99, 99}).view({1, 4}),
               at::tensor(std::vector<int64_t>{1, 1, 1, 0}).view({1, 4}));
  at::Tensor pixels = at::linspace(-1.0, 1.0, frames * 3 * image * image).view({frames, 3, image, image});
  int yielded = 0;
  s.propagate([&](int64_t i) { return pixels.select(0, i).sin().mul(i + 1).unsqueeze(0); },
              [&](const TextVideoFrameResult& r, const TextVideoObjects& post) {
                ++yielded;
                EXPECT_GE(r.object_ids.size(), 1u);
                EXPECT_LE(r.object_ids.size(), 4u);
                EXPECT_EQ(r.masks.size(0), static_cast<int64_t>(r.mask_object_ids.size()));
                EXPECT_EQ(r.masks.size(1), 4 * grid);
                EXPECT_EQ(r.masks.size(2), 4 * grid);
                EXPECT_EQ(post.masks.size(1), height);
                EXPECT_EQ(post.masks.size(2), width);
                EXPECT_EQ(post.boxes.size(0), post.object_ids.size(0));
              });
  EXPECT_EQ(yielded, frames);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sam3rt
