// VideoSession through the public API, on the tiny sam3_video fixture checkpoint:
//  - end to end against transformers' Sam3TrackerVideoModel: the fixture's raw 96x128
//    frames, its prompts in video pixels (two clicks for object 1, a box for object 2 on
//    frame 0, then a correction click on frame 3), every frame's object scores and
//    video-resolution masks (sam3_tracker_video fixture, cases tv0 and tv1);
//  - text prompts end to end against transformers' Sam3VideoModel (sam3_video fixture,
//    cases v0 text-only query and v1 with the CLS token): every delivered frame's object
//    ids, scores, boxes and masks, and the delivery order (hotstart delay);
//  - the session's plumbing against the video tracker driven directly (reverse
//    propagation from a later frame, accumulated prompts, mask prompts);
//  - streaming (frames decoded only when tracked, early stop, re-propagation) and every
//    bad input the API names.
// The fixture's text encoder has a 100-token vocabulary, too small for the CLIP tokenizer
// Model::load binds, so the test loads a copy of the checkpoint whose token embedding is
// padded to CLIP's 49408 rows. The fixture's prompt is synthetic ids (98, 68, 53, 70, 50,
// 76, 99): the rows of the CLIP ids of "<start> a b c d e <end>" get those rows, so that
// add_text("a b c d e") gives the detector exactly the fixture's text features.
#include <gtest/gtest.h>

#include <ATen/ops/cat.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/logical_and.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/upsample_bilinear2d.h>
#include <ATen/ops/zeros.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <sam3rt/sam3rt.h>
#include <sam3rt/video.h>

#include "testing/errors.h"
#include "io/safetensors.h"
#include "text/clip_tokenizer.h"
#include "models/tracker/video_tracker.h"
#include "pipeline/model_impl.h"
#include "pipeline/preprocess.h"
#include "pipeline/random_checkpoint.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

namespace fs = std::filesystem;
using testing::Fixture;

// Masks are compared pixel by pixel; a pixel may differ from the reference only where the
// reference logit is this close to the threshold (the logits themselves are held to the
// tracker's per-frame parity bound elsewhere).
constexpr double kMaskLogitBand = 0.05;
constexpr double kScoreTol = 1e-4;
// The text standing in for the fixture's synthetic prompt (see above).
constexpr const char* kFixtureText = "a b c d e";

fs::path temp_root() {
  static const fs::path p = fs::temp_directory_path() / ("sam3rt_video_session_test_" + std::to_string(::getpid()));
  return p;
}

// The fixture checkpoint with the token embedding padded to CLIP's vocabulary.
std::string fixture_model_dir() {
  const fs::path dir = temp_root() / "fixture_model";
  if (fs::exists(dir / "model.safetensors")) return dir.string();
  fs::create_directories(dir);
  std::ifstream in(testing::data_path("sam3-tiny-seed0/sam3_video/config.json"));
  nlohmann::json j = nlohmann::json::parse(in);
  j["detector_config"]["text_config"]["vocab_size"] = 49408;
  std::ofstream(dir / "config.json") << j.dump(2);
  const auto file = io::SafetensorsFile::open(testing::data_path("sam3-tiny-seed0/sam3_video/model.safetensors"));
  const Fixture video("sam3-tiny-seed0/sam3_video");
  const at::Tensor fixture_ids = video.input("prompt.input_ids").reshape({-1});        // [32]
  const at::Tensor fixture_valid = video.input("prompt.attention_mask").reshape({-1});  // [32]
  const auto clip = text::ClipTokenizer::from_bpe_gz(find_bpe_vocab(""));
  const auto enc = clip.encode(kFixtureText, static_cast<int>(fixture_ids.numel()));
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& info : file->tensors()) {
    at::Tensor t = file->tensor(info);
    if (info.name == "detector_model.text_encoder.text_model.embeddings.token_embedding.weight") {
      at::Tensor padded = at::cat({t, at::zeros({49408 - t.size(0), t.size(1)}, t.options())}, 0);
      for (int64_t j = 0; j < fixture_ids.numel(); ++j) {
        if (fixture_valid[j].item<int64_t>() == 0) break;
        EXPECT_EQ(enc.attention_mask[j], 1) << "\"" << kFixtureText << "\" must have the fixture prompt's length";
        EXPECT_GE(enc.ids[j], 100) << "a CLIP id inside the fixture's vocabulary would be overwritten";
        padded[enc.ids[j]].copy_(t[fixture_ids[j].item<int64_t>()]);
      }
      t = padded;
    }
    tensors.emplace_back(info.name, t);
  }
  io::write_safetensors((dir / "model.safetensors").string(), tensors, file->metadata());
  return dir.string();
}

// Frames from a [T, H, W, 3] tensor; records which frames were asked for.
class TensorSource : public FrameSource {
 public:
  TensorSource(at::Tensor frames, std::vector<int64_t>* log = nullptr) : frames_(std::move(frames)), log_(log) {}
  int64_t num_frames() const override { return frames_.size(0); }
  int64_t width() const override { return frames_.size(2); }
  int64_t height() const override { return frames_.size(1); }
  double fps() const override { return 24; }
  std::string name() const override { return "fixture clip"; }
  at::Tensor frame(int64_t index) override {
    if (log_) log_->push_back(index);
    return frames_.select(0, index).contiguous();
  }

 private:
  at::Tensor frames_;
  std::vector<int64_t>* log_;
};

struct Env {
  Fixture fx{"sam3-tiny-seed0/sam3_tracker_video"};
  Fixture video{"sam3-tiny-seed0/sam3_video"};
  std::shared_ptr<const Model> model;
  std::shared_ptr<const Model> hf_text_model;  // ModelOptions::hf_text_only
  at::Tensor frames;  // [6, 96, 128, 3] uint8

  Env() {
    ModelOptions mo;
    mo.model_dir = fixture_model_dir();
    mo.num_threads = 1;  // a tiny model: more threads only add synchronisation
    model = Model::load(mo);
    mo.hf_text_only = true;
    hf_text_model = Model::load(mo);
    frames = video.input("video.frames_uint8_thwc");
  }
  std::unique_ptr<FrameSource> source(std::vector<int64_t>* log = nullptr) const {
    return std::make_unique<TensorSource>(frames, log);
  }
  std::vector<float> floats(const std::string& name) const {
    at::Tensor t = fx.input(name).to(at::kFloat).contiguous().reshape({-1});
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  }
  std::vector<int64_t> ints(const std::string& name, bool output = false) const {
    at::Tensor t = (output ? fx.output(name) : fx.input(name)).to(at::kLong).contiguous().reshape({-1});
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  }
  std::vector<Point> points(const std::string& xy, const std::string& labels) const {
    const std::vector<float> p = floats(xy);
    const std::vector<int64_t> l = ints(labels);
    std::vector<Point> out;
    for (size_t i = 0; i < l.size(); ++i) out.push_back(Point{p[2 * i], p[2 * i + 1], l[i] == 1});
    return out;
  }
  Box box(const std::string& name) const {
    const std::vector<float> b = floats(name);
    return Box{b[0], b[1], b[2], b[3], true};
  }
};

Env& env() {
  static Env e;
  return e;
}

std::vector<TrackFrame> run(VideoSession& s, const PropagateOptions& o = {}) {
  std::vector<TrackFrame> out;
  s.propagate([&](const TrackFrame& f) {
    out.push_back(f);
    return true;
  }, o);
  return out;
}

std::vector<int64_t> indices(const std::vector<TrackFrame>& frames) {
  std::vector<int64_t> out;
  for (const auto& f : frames) out.push_back(f.index);
  return out;
}

// Tight box of a [H, W] bool mask, computed here independently of the session.
Box tight_box(const at::Tensor& mask) {
  const at::Tensor nz = at::nonzero(mask);  // [K, 2] (y, x)
  if (nz.size(0) == 0) return Box{};
  const at::Tensor y = nz.select(1, 0), x = nz.select(1, 1);
  return Box{static_cast<float>(x.min().item<int64_t>()), static_cast<float>(y.min().item<int64_t>()),
             static_cast<float>(x.max().item<int64_t>() + 1), static_cast<float>(y.max().item<int64_t>() + 1), true};
}

void expect_consistent(const TrackedObject& o, int64_t h, int64_t w) {
  ASSERT_TRUE(o.mask.defined());
  ASSERT_EQ(o.mask.sizes(), (std::vector<int64_t>{h, w}));
  EXPECT_EQ(o.mask.scalar_type(), at::kBool);
  EXPECT_EQ(o.area, o.mask.sum().item<int64_t>());
  const Box b = tight_box(o.mask);
  EXPECT_EQ(o.box.x1, b.x1);
  EXPECT_EQ(o.box.y1, b.y1);
  EXPECT_EQ(o.box.x2, b.x2);
  EXPECT_EQ(o.box.y2, b.y2);
  if (!o.present) {
    EXPECT_EQ(o.area, 0);
  }
}

// One delivered frame against the reference outputs under `prefix`.
void check_against_reference(const TrackFrame& f, const std::string& prefix) {
  SCOPED_TRACE(prefix);
  const Env& e = env();
  EXPECT_EQ(f.width, 128);
  EXPECT_EQ(f.height, 96);
  const std::vector<int64_t> ids = e.ints(prefix + "object_ids", /*output=*/true);
  ASSERT_EQ(f.objects.size(), ids.size());
  const at::Tensor logits = e.fx.output(prefix + "object_score_logits").to(at::kFloat);  // [N]
  const at::Tensor video_res = e.fx.output(prefix + "video_res_mask_logits").to(at::kFloat);  // [N, 1, H, W]
  for (size_t k = 0; k < ids.size(); ++k) {
    const TrackedObject& o = f.objects[k];
    EXPECT_EQ(o.id, ids[k]);
    const float ref_logit = logits[static_cast<int64_t>(k)].item<float>();
    EXPECT_NEAR(o.score, 1.0 / (1.0 + std::exp(-ref_logit)), kScoreTol) << "object " << o.id;
    EXPECT_EQ(o.present, ref_logit > 0) << "object " << o.id;
    expect_consistent(o, 96, 128);
    const at::Tensor ref = video_res[static_cast<int64_t>(k)][0];
    const at::Tensor differ = o.mask.ne(ref.gt(0));
    const int64_t outside_band = at::logical_and(differ, ref.abs().gt(kMaskLogitBand)).sum().item<int64_t>();
    EXPECT_EQ(outside_band, 0) << "object " << o.id << ": " << differ.sum().item<int64_t>() << " pixels differ";
  }
}

TEST(VideoSession, MatchesTransformersOnTheFixtureClipAndItsCorrection) {
  Env& e = env();
  std::vector<int64_t> log;
  VideoSession s(e.model, e.source(&log));
  EXPECT_EQ(s.num_frames(), 6);
  EXPECT_EQ(s.width(), 128);
  EXPECT_EQ(s.height(), 96);
  EXPECT_EQ(s.fps(), 24);
  auto prompt = [&](VideoSession& v) {
    v.add_points(0, 1, e.points("obj1.frame0.points_video_px", "obj1.frame0.labels"));
    v.add_box(0, 2, e.box("obj2.frame0.box_xyxy_video_px"));
  };
  prompt(s);
  EXPECT_EQ(s.object_ids(), (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(log.empty()) << "prompts decode nothing";

  const std::vector<TrackFrame> tv0 = run(s);
  ASSERT_EQ(indices(tv0), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(log, (std::vector<int64_t>{0, 1, 2, 3, 4, 5})) << "each frame decoded once, in order";
  bool any_present = false;
  for (const TrackFrame& f : tv0) {
    check_against_reference(f, "tv0_points_box.propagate.frame" + std::to_string(f.index) + ".");
    for (const auto& o : f.objects) any_present = any_present || (o.present && o.area > 0);
    for (const char* stage : {"decode", "preprocess", "track", "postprocess"}) EXPECT_TRUE(f.timings_ms.count(stage));
  }
  EXPECT_TRUE(any_present) << "the comparison must see some mask pixels";

  // tv1 corrects frame 3 after the clip was tracked to its end, and transformers then
  // reads frame 1's memory, which the default bounded history has dropped by then: keep
  // every memory as transformers does. The forward pass is the same either way.
  VideoOptions all;
  all.history_radius = -1;
  VideoSession k(e.model, e.source(), all);
  prompt(k);
  const std::vector<TrackFrame> tv0_all = run(k);
  ASSERT_EQ(tv0_all.size(), tv0.size());
  for (size_t i = 0; i < tv0.size(); ++i) {
    for (size_t j = 0; j < tv0[i].objects.size(); ++j) {
      EXPECT_TRUE(at::equal(tv0[i].objects[j].mask, tv0_all[i].objects[j].mask));
      EXPECT_EQ(tv0[i].objects[j].score, tv0_all[i].objects[j].score);
    }
  }
  // The correction click on frame 3 (already tracked), then propagation from there.
  k.add_points(3, 1, e.points("obj1.frame3.correction_point_video_px", "obj1.frame3.correction_label"));
  PropagateOptions from3;
  from3.start_frame = 3;
  const std::vector<TrackFrame> tv1 = run(k, from3);
  ASSERT_EQ(indices(tv1), (std::vector<int64_t>{3, 4, 5}));
  for (const TrackFrame& f : tv1) {
    check_against_reference(f, "tv1_correction_f3.propagate.frame" + std::to_string(f.index) + ".");
  }
}

TEST(VideoSession, PropagatingAgainReproducesTheFirstPass) {
  Env& e = env();
  VideoSession s(e.model, e.source());
  s.add_box(1, 7, e.box("obj2.frame0.box_xyxy_video_px"));
  const std::vector<TrackFrame> a = run(s), b = run(s);
  ASSERT_EQ(indices(a), (std::vector<int64_t>{1, 2, 3, 4, 5}));  // from the earliest prompted frame
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].objects.size(), 1u);
    EXPECT_EQ(a[i].objects[0].id, 7);
    EXPECT_TRUE(at::equal(a[i].objects[0].mask, b[i].objects[0].mask)) << "frame " << a[i].index;
    EXPECT_EQ(a[i].objects[0].score, b[i].objects[0].score);
  }
}

// The session against models::VideoTracker driven by hand with the same prompts scaled to
// the model input (x * S / W, y * S / H): identical masks and scores.
struct Direct {
  models::VideoTracker tracker;
  float sx, sy;
  explicit Direct(const Env& e)
      : tracker(*model_impl(*e.model).modules->tracker, *model_impl(*e.model).modules->frame_encoder,
                e.frames.size(0)),
        sx(static_cast<float>(model_impl(*e.model).config.tracker->image_size / 128.0)),
        sy(static_cast<float>(model_impl(*e.model).config.tracker->image_size / 96.0)) {}
  models::VideoFrameResult track(const Env& e, int64_t i, bool reverse) {
    const int64_t S = model_impl(*e.model).config.tracker->image_size;
    return tracker.track({i, pipeline::preprocess_image(e.frames[i], S), {}}, reverse);
  }
  at::Tensor points(const std::vector<Point>& p) const {
    std::vector<float> xy;
    for (const auto& q : p) {
      xy.push_back(q.x * sx);
      xy.push_back(q.y * sy);
    }
    return at::tensor(xy).view({-1, 2});
  }
  at::Tensor labels(const std::vector<Point>& p) const {
    std::vector<int64_t> l;
    for (const auto& q : p) l.push_back(q.positive ? 1 : 0);
    return at::tensor(l);
  }
  at::Tensor box(const Box& b) const { return at::tensor(std::vector<float>{b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy}); }
};

void expect_same(const TrackFrame& f, const models::VideoFrameResult& r) {
  SCOPED_TRACE("frame " + std::to_string(f.index));
  ASSERT_EQ(f.index, r.frame);
  ASSERT_EQ(f.objects.size(), r.object_ids.size());
  const at::Tensor masks =
      at::upsample_bilinear2d(r.masks.to(at::kFloat), {f.height, f.width}, /*align_corners=*/false).squeeze(1).gt(0);
  for (size_t k = 0; k < r.object_ids.size(); ++k) {
    const int64_t i = static_cast<int64_t>(k);
    EXPECT_EQ(f.objects[k].id, r.object_ids[k]);
    EXPECT_TRUE(at::equal(f.objects[k].mask, masks[i])) << "object " << r.object_ids[k];
    EXPECT_EQ(f.objects[k].score, at::sigmoid(r.object_score_logits[i]).item<float>());
    expect_consistent(f.objects[k], f.height, f.width);
  }
}

TEST(VideoSession, ReversePropagationFromALaterFrameMatchesTheTracker) {
  Env& e = env();
  const Box box = e.box("obj2.frame0.box_xyxy_video_px");
  const std::vector<Point> clicks = e.points("obj1.frame0.points_video_px", "obj1.frame0.labels");
  VideoSession s(e.model, e.source());
  s.add_box(4, 3, box);
  s.add_points(4, 9, clicks);
  PropagateOptions o;
  o.reverse = true;
  const std::vector<TrackFrame> got = run(s, o);
  ASSERT_EQ(indices(got), (std::vector<int64_t>{4, 3, 2, 1, 0}));

  Direct d(e);
  d.tracker.add_box(3, 4, d.box(box));
  d.tracker.add_points(9, 4, d.points(clicks), d.labels(clicks));
  for (const TrackFrame& f : got) expect_same(f, d.track(e, f.index, /*reverse=*/true));
}

TEST(VideoSession, PromptsAccumulatePerObjectAndFrame) {
  Env& e = env();
  const Box box = e.box("obj2.frame0.box_xyxy_video_px");
  const std::vector<Point> clicks = e.points("obj1.frame0.points_video_px", "obj1.frame0.labels");
  ASSERT_EQ(clicks.size(), 2u);
  PropagateOptions three;
  three.max_frames = 3;

  VideoSession a(e.model, e.source());  // point, box, point: one box and both points
  a.add_points(0, 1, {clicks[0]});
  a.add_box(0, 1, box);
  a.add_points(0, 1, {clicks[1]});
  VideoSession b(e.model, e.source());
  b.add_box(0, 1, box);
  b.add_points(0, 1, clicks);
  const std::vector<TrackFrame> ra = run(a, three), rb = run(b, three);
  ASSERT_EQ(indices(ra), (std::vector<int64_t>{0, 1, 2}));

  Direct d(e);
  d.tracker.add_box(1, 0, d.box(box), d.points(clicks), d.labels(clicks));
  for (size_t i = 0; i < ra.size(); ++i) {
    const models::VideoFrameResult r = d.track(e, ra[i].index, false);
    expect_same(ra[i], r);
    expect_same(rb[i], r);
  }
}

TEST(VideoSession, AMaskPromptIsTheObjectOnItsFrame) {
  Env& e = env();
  // A rectangle as the object on frame 2.
  at::Tensor mask = at::zeros({96, 128}, at::TensorOptions().dtype(at::kBool));
  mask.narrow(0, 30, 40).narrow(1, 40, 50).fill_(true);
  VideoSession s(e.model, e.source());
  s.add_mask(2, 5, mask.to(at::kByte));  // uint8 works as well as bool
  const std::vector<TrackFrame> got = run(s);
  ASSERT_EQ(indices(got), (std::vector<int64_t>{2, 3, 4, 5}));
  const TrackedObject& first = got[0].objects.at(0);
  EXPECT_TRUE(first.present);
  const double inter = first.mask.logical_and(mask).sum().item<double>();
  const double uni = first.mask.logical_or(mask).sum().item<double>();
  EXPECT_GT(inter / uni, 0.9) << "the prompt mask comes back (through the tracker's 4G resolution)";

  Direct d(e);
  d.tracker.add_mask(5, 2, mask);
  for (const TrackFrame& f : got) expect_same(f, d.track(e, f.index, false));
}

TEST(VideoSession, StreamsFramesOnlyAsTrackedAndStopsOnRequest) {
  Env& e = env();
  std::vector<int64_t> log;
  VideoSession s(e.model, e.source(&log));
  s.add_box(1, 1, e.box("obj2.frame0.box_xyxy_video_px"));
  int calls = 0;
  const int64_t n = s.propagate([&](const TrackFrame&) { return ++calls < 2; });
  EXPECT_EQ(n, 2);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(log, (std::vector<int64_t>{1, 2}));
  log.clear();
  PropagateOptions o;
  o.start_frame = 3;
  o.max_frames = 2;
  EXPECT_EQ(indices(run(s, o)), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(log, (std::vector<int64_t>{3, 4}));
  o.reverse = true;
  o.max_frames = 0;
  o.start_frame = 1;
  EXPECT_EQ(indices(run(s, o)), (std::vector<int64_t>{1, 0}));
  // By default forwards starts at the earliest prompted frame, backwards at the latest.
  VideoSession u(e.model, e.source());
  u.add_box(3, 1, e.box("obj2.frame0.box_xyxy_video_px"));
  u.add_points(1, 2, e.points("obj1.frame0.points_video_px", "obj1.frame0.labels"));
  PropagateOptions back;
  back.reverse = true;
  EXPECT_EQ(indices(run(u, back)), (std::vector<int64_t>{3, 2, 1, 0}));
  // An object prompted only on a later frame is reported, absent, until its frame.
  VideoSession t(e.model, e.source());
  t.add_box(0, 1, e.box("obj2.frame0.box_xyxy_video_px"));
  t.add_points(2, 2, e.points("obj1.frame0.points_video_px", "obj1.frame0.labels"));
  const std::vector<TrackFrame> got = run(t);
  ASSERT_EQ(got.size(), 6u);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(got[i].objects.size(), 2u);
    EXPECT_EQ(got[i].objects[1].id, 2);
    EXPECT_FALSE(got[i].objects[1].present);
    EXPECT_EQ(got[i].objects[1].area, 0);
  }
}

TEST(VideoSession, ResetForgetsEverything) {
  Env& e = env();
  VideoSession s(e.model, e.source());
  s.add_box(0, 1, e.box("obj2.frame0.box_xyxy_video_px"));
  PropagateOptions two;
  two.max_frames = 2;
  const std::vector<TrackFrame> a = run(s, two);
  s.reset();
  EXPECT_TRUE(s.object_ids().empty());
  EXPECT_THROW(run(s), Error);
  s.add_box(0, 1, e.box("obj2.frame0.box_xyxy_video_px"));
  const std::vector<TrackFrame> b = run(s, two);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].objects[0].mask, b[i].objects[0].mask));
}

// Text prompts: every delivered frame against the reference's post-processed objects.
void check_text_case(const std::shared_ptr<const Model>& model, const std::string& c) {
  SCOPED_TRACE(c);
  Env& e = env();
  const Fixture& fx = e.video;
  VideoSession s(model, e.source());
  s.add_text(kFixtureText);
  EXPECT_EQ(s.texts(), (std::vector<std::string>{kFixtureText}));
  const std::vector<TrackFrame> got = run(s);
  std::vector<int64_t> order;
  for (const auto& f : got) order.push_back(f.index);
  const at::Tensor ref_order = fx.output(c + ".yield_order").to(at::kLong).contiguous();
  EXPECT_EQ(order, std::vector<int64_t>(ref_order.data_ptr<int64_t>(), ref_order.data_ptr<int64_t>() + ref_order.numel()));
  int64_t objects = 0;
  for (const TrackFrame& f : got) {
    const std::string p = c + ".frame" + std::to_string(f.index) + ".post.";
    SCOPED_TRACE(p);
    const at::Tensor ids = fx.output(p + "object_ids").to(at::kLong);
    const at::Tensor scores = fx.output(p + "scores").to(at::kFloat);
    const at::Tensor boxes = fx.output(p + "boxes").to(at::kFloat);  // inclusive pixel indices
    const at::Tensor masks = fx.output(p + "masks");                  // [K, 96, 128] bool
    ASSERT_EQ(static_cast<int64_t>(f.objects.size()), ids.numel());
    for (int64_t k = 0; k < ids.numel(); ++k) {
      const TrackedObject& o = f.objects[k];
      EXPECT_EQ(o.id, ids[k].item<int64_t>());
      EXPECT_TRUE(o.present);
      EXPECT_NEAR(o.score, scores[k].item<float>(), 1e-3);
      expect_consistent(o, 96, 128);
      EXPECT_TRUE(at::equal(o.mask, masks[k])) << "object " << o.id << ": "
                                               << o.mask.ne(masks[k]).sum().item<int64_t>() << " pixels differ";
      // The reference's boxes are the extent of the masks before the object-wise
      // non-overlap (inclusive pixel indices); ours, the tight box of the final mask, lies
      // inside.
      if (o.area > 0) {
        EXPECT_GE(o.box.x1, boxes[k][0].item<float>());
        EXPECT_GE(o.box.y1, boxes[k][1].item<float>());
        EXPECT_LE(o.box.x2, boxes[k][2].item<float>() + 1);
        EXPECT_LE(o.box.y2, boxes[k][3].item<float>() + 1);
      }
      ++objects;
    }
  }
  EXPECT_GT(objects, 0) << "the comparison must see some objects";
}

TEST(VideoSession, TextMatchesTransformersTextOnlyQuery) { check_text_case(env().hf_text_model, "v0_text_hf"); }

TEST(VideoSession, TextMatchesTheClsTokenQuery) {
  // Meta's query (the geometry encoder's CLS token) gives the reference's padding-box case.
  check_text_case(env().model, "v1_text_padbox_cls");
}

TEST(VideoSession, TextSessionsStopAndStartWhereAsked) {
  Env& e = env();
  VideoSession s(e.hf_text_model, e.source());
  s.add_text(kFixtureText, 2);
  int calls = 0;
  EXPECT_EQ(s.propagate([&](const TrackFrame&) { return ++calls < 2; }), 2);
  VideoSession t(e.hf_text_model, e.source());
  t.add_text(kFixtureText, 2);
  EXPECT_EQ(indices(run(t)), (std::vector<int64_t>{2, 3, 4, 5}));
  VideoSession r(e.hf_text_model, e.source());
  r.add_text(kFixtureText, 3);
  PropagateOptions back;
  back.reverse = true;
  EXPECT_EQ(indices(run(r, back)), (std::vector<int64_t>{2, 1, 0})) << "backwards from the frame before";
  // The CLS-token case finds two objects on every frame; max_objects = 1 keeps one.
  VideoOptions one;
  one.max_objects = 1;
  VideoSession m(e.model, e.source(), one);
  m.add_text(kFixtureText);
  std::set<int64_t> ids;
  for (const TrackFrame& f : run(m)) {
    EXPECT_LE(f.objects.size(), 1u) << "frame " << f.index;
    for (const auto& o : f.objects) ids.insert(o.id);
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_LE(m.object_ids().size(), 1u);
}

using testing::expect_error;

TEST(VideoSession, BadPromptsAreNamedErrorsThatChangeNothing) {
  Env& e = env();
  VideoOptions vo;
  vo.max_objects = 2;
  VideoSession s(e.model, e.source(), vo);
  const Box box{10, 10, 50, 40, true};
  const Point p{20, 20, true};
  expect_error([&] { s.add_points(6, 1, {p}); }, ErrorCode::kInvalidArgument, "past the end of the video");
  expect_error([&] { s.add_box(6, 1, box); }, ErrorCode::kInvalidArgument, "6 frames, 0..5");
  expect_error([&] { s.add_points(-1, 1, {p}); }, ErrorCode::kInvalidArgument, "numbered from 0");
  expect_error([&] { s.add_points(0, 1, {}); }, ErrorCode::kInvalidArgument, "no points");
  expect_error([&] { s.add_points(0, 1, {{129, 5, true}}); }, ErrorCode::kInvalidArgument, "outside the 128x96 video");
  expect_error([&] { s.add_points(0, 1, {{NAN, 5, true}}); }, ErrorCode::kInvalidArgument, "outside");
  expect_error([&] { s.add_box(0, 1, {50, 10, 10, 40, true}); }, ErrorCode::kInvalidArgument, "x2 > x1");
  expect_error([&] { s.add_box(0, 1, {10, 10, 130, 40, true}); }, ErrorCode::kInvalidArgument, "outside");
  expect_error([&] { s.add_box(0, 1, {10, 10, 50, 40, false}); }, ErrorCode::kInvalidArgument, "negative");
  expect_error([&] { s.add_mask(0, 1, at::zeros({96, 127}, at::TensorOptions().dtype(at::kBool))); },
               ErrorCode::kInvalidArgument, "video's size");
  expect_error([&] { s.add_mask(0, 1, at::zeros({96, 128})); }, ErrorCode::kInvalidArgument, "bool or uint8");
  EXPECT_TRUE(s.object_ids().empty()) << "failed prompts add no object";
  expect_error([&] { run(s); }, ErrorCode::kInvalidArgument, "nothing to track");

  // Inconsistent reuse of an object id.
  s.add_box(0, 1, box);
  s.add_points(0, 1, {p});  // a box and points together: fine
  expect_error([&] { s.add_box(0, 1, {0, 0, 20, 20, true}); }, ErrorCode::kInvalidArgument, "already has a box on frame 0");
  const at::Tensor m = at::zeros({96, 128}, at::TensorOptions().dtype(at::kBool));
  expect_error([&] { s.add_mask(0, 1, m); }, ErrorCode::kInvalidArgument, "cannot be combined");
  s.add_mask(1, 2, m);
  expect_error([&] { s.add_points(1, 2, {p}); }, ErrorCode::kInvalidArgument, "has a mask prompt on frame 1");
  expect_error([&] { s.add_box(1, 2, box); }, ErrorCode::kInvalidArgument, "has a mask prompt on frame 1");
  s.add_box(2, 2, box);  // the same object on another frame: fine
  expect_error([&] { s.add_points(0, 3, {p}); }, ErrorCode::kInvalidArgument, "at most 2");
  EXPECT_EQ(s.object_ids(), (std::vector<int64_t>{1, 2}));

  // Text prompts are never mixed with clicks, in either order.
  expect_error([&] { s.add_text("person"); }, ErrorCode::kInvalidArgument, "either text or clicks");
  VideoSession t(e.model, e.source());
  expect_error([&] { t.add_text(""); }, ErrorCode::kInvalidArgument, "empty");
  expect_error([&] { t.add_text("person", 9); }, ErrorCode::kInvalidArgument, "past the end");
  t.add_text("person");
  t.add_text("person");  // the same text again: one prompt
  EXPECT_EQ(t.texts(), (std::vector<std::string>{"person"}));
  expect_error([&] { t.add_points(0, 1, {p}); }, ErrorCode::kInvalidArgument, "either text or clicks");
  expect_error([&] { t.add_box(0, 1, box); }, ErrorCode::kInvalidArgument, "either text or clicks");
  PropagateOptions one;
  one.max_frames = 1;
  run(t, one);
  expect_error([&] { t.add_text("cat"); }, ErrorCode::kInvalidArgument, "before the first propagate");
  t.reset();
  EXPECT_TRUE(t.texts().empty());
  t.add_points(0, 1, {p});  // after reset(), clicks are fine

  PropagateOptions o;
  o.start_frame = 6;
  expect_error([&] { run(s, o); }, ErrorCode::kInvalidArgument, "past the end");
  expect_error([&] { s.propagate(TrackCallback{}); }, ErrorCode::kInvalidArgument, "callback");
}

TEST(VideoSession, ModelsAndVideosThatCannotTrackAreErrors) {
  Env& e = env();
  expect_error([&] { VideoSession(e.model, (temp_root() / "missing.mp4").string()); }, ErrorCode::kNotFound,
               "missing.mp4");
  expect_error([&] { VideoSession(nullptr, e.source()); }, ErrorCode::kInvalidArgument, "model");
  expect_error([&] { VideoSession(e.model, std::unique_ptr<FrameSource>()); }, ErrorCode::kInvalidArgument, "source");
  // A sam3_tracker checkpoint (no memory modules): refused before the video is opened.
  std::ifstream in(testing::data_path("sam3-tiny-seed0/sam3_tracker/config.json"));
  nlohmann::json j = nlohmann::json::parse(in);
  const fs::path dir = temp_root() / "tracker_model";
  fs::create_directories(dir);
  std::ofstream(dir / "input_config.json") << j.dump(2);
  pipeline::make_random_checkpoint((dir / "input_config.json").string(), (dir / "model").string(), {});
  ModelOptions mo;
  mo.model_dir = (dir / "model").string();
  const auto tracker_only = Model::load(mo);
  expect_error([&] { VideoSession(tracker_only, (temp_root() / "missing.mp4").string()); }, ErrorCode::kUnsupported,
               "sam3_video layout");
}

class Cleanup : public ::testing::Environment {
 public:
  void TearDown() override { fs::remove_all(temp_root()); }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new Cleanup);

}  // namespace
}  // namespace sam3rt
