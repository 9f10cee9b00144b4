// sam3rt::VideoSession: a FrameSource and one of two engines:
//  - clicks, boxes and masks: the prompts per object and frame in video pixels, and the
//    video tracker (models/tracker/video_tracker.h) they are handed to, scaled to the model
//    input, when propagation starts;
//  - text: the detector-driven pipeline (models/video/text_video.h), which finds, numbers
//    and tracks every instance of the texts.
#include <ATen/ops/nonzero.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/tensor.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "pipeline/edge.h"
#include "io/video.h"
#include "models/tracker/video_tracker.h"
#include "models/video/text_video.h"
#include "pipeline/model_impl.h"
#include "pipeline/postprocess.h"
#include "pipeline/preprocess.h"
#include "sam3rt/error.h"
#include "sam3rt/video.h"

namespace sam3rt {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// One object of a frame's result, its area and tight box from the mask.
TrackedObject tracked(int64_t id, bool present, float score, const at::Tensor& mask) {
  TrackedObject o;
  o.id = id;
  o.present = present;
  o.score = score;
  o.mask = mask;
  o.area = mask.sum().item<int64_t>();
  if (o.area > 0) o.box = pipeline::mask_box(mask);
  return o;
}

std::string box_text(const Box& b) { return detail::concat("(", b.x1, ",", b.y1, ",", b.x2, ",", b.y2, ")"); }


// The tracker's modules, or Error(kUnsupported) naming what the model lacks.
const models::Modules& video_modules(const std::shared_ptr<const Model>& model) {
  SAM3RT_CHECK(model != nullptr, kInvalidArgument, "VideoSession needs a loaded model");
  const models::Modules& m = *model_impl(*model).modules;
  SAM3RT_CHECK(m.tracker.has_value() && m.tracker->memory.has_value(), kUnsupported, "model type ",
               model->type_name(),
               " cannot track video: that needs the tracker with its memory (the sam3_video layout, e.g. "
               "facebook/sam3, or sam2_video, e.g. facebook/sam2.1-hiera-large)");
  return m;
}

// Opens the video once the model is known to track (a model that cannot fails first).
std::unique_ptr<FrameSource> open_for(const std::shared_ptr<const Model>& model, const std::string& path,
                                      const VideoOptions& options) {
  video_modules(model);
  FrameSourceOptions so;
  so.cache_frames = options.cache_frames;
  return open_frame_source(path, so);
}

}  // namespace

struct VideoSession::State {
  // One object's prompts on one frame, in video pixels.
  struct FramePrompts {
    std::vector<Point> points;
    std::optional<Box> box;
    at::Tensor mask;     // [H, W] bool
    bool dirty = false;  // not yet handed to the tracker
  };
  struct ObjectPrompts {
    int64_t id = 0;
    std::map<int64_t, FramePrompts> frames;
  };

  std::unique_ptr<FrameSource> source;
  VideoOptions options;
  const models::Modules* modules = nullptr;
  std::unique_ptr<models::VideoTracker> tracker;
  std::vector<ObjectPrompts> objects;  // in the order first prompted
  // Text prompts: a copy of the modules (weights shared) with the object limit, and the
  // pipeline; created by the first add_text().
  std::unique_ptr<models::TextVideoSession> text;
  std::vector<std::string> texts;
  int64_t text_frame = -1;    // the earliest frame given with a text
  bool text_started = false;  // propagate() ran
  int64_t image_size = 0;
  at::Device device{at::kCPU};

  void check_frame(int64_t frame, const char* what) const {
    const int64_t n = source->num_frames();
    SAM3RT_CHECK(frame >= 0 && frame < n, kInvalidArgument, what, " on frame ", frame, ": ",
                 frame < 0 ? "frames are numbered from 0" : "past the end of the video", " (", source->name(),
                 " has ", n, " frame", n == 1 ? "" : "s", ", 0..", n - 1, ")");
  }

  void check_no_text(int64_t object_id) const {
    SAM3RT_CHECK(texts.empty(), kInvalidArgument, "object ", object_id, ": this session tracks the text prompt '",
                 texts.empty() ? "" : texts.front(), "', whose objects are numbered by the detector; a session "
                 "takes either text or clicks, boxes and masks");
  }

  // The prompts of (object, frame), creating the object if new (checked against
  // max_objects first). Nothing is created when the check fails.
  ObjectPrompts* find(int64_t id) {
    for (ObjectPrompts& o : objects) {
      if (o.id == id) return &o;
    }
    return nullptr;
  }
  void check_new_object(int64_t id) const {
    const int max = options.max_objects;
    SAM3RT_CHECK(max <= 0 || static_cast<int>(objects.size()) < max, kInvalidArgument, "object ", id,
                 " would be object number ", objects.size() + 1, " but the session allows at most ", max,
                 " (max_objects)");
  }
  const FramePrompts* existing(int64_t id, int64_t frame) {
    ObjectPrompts* o = find(id);
    if (o == nullptr) return nullptr;
    auto it = o->frames.find(frame);
    return it == o->frames.end() ? nullptr : &it->second;
  }
  FramePrompts& slot(int64_t id, int64_t frame) {
    ObjectPrompts* o = find(id);
    if (o == nullptr) {
      objects.push_back(ObjectPrompts{id, {}});
      o = &objects.back();
    }
    return o->frames[frame];
  }

  // Hands every prompt not yet given to the tracker, scaled from video pixels to the S x S
  // model input (x * S / W, y * S / H in float32, as the reference processor does).
  void flush() {
    const int64_t W = source->width(), H = source->height();
    const float sx = static_cast<float>(static_cast<double>(image_size) / static_cast<double>(W));
    const float sy = static_cast<float>(static_cast<double>(image_size) / static_cast<double>(H));
    const auto fopts = at::TensorOptions().dtype(at::kFloat);
    const auto lopts = at::TensorOptions().dtype(at::kLong);
    for (ObjectPrompts& o : objects) {
      for (auto& [frame, fp] : o.frames) {
        if (!fp.dirty) continue;
        if (fp.mask.defined()) {
          tracker->add_mask(o.id, frame, fp.mask);
        } else {
          at::Tensor points, labels;
          if (!fp.points.empty()) {
            std::vector<float> xy;
            std::vector<int64_t> l;
            for (const Point& p : fp.points) {
              xy.push_back(p.x * sx);
              xy.push_back(p.y * sy);
              l.push_back(p.positive ? 1 : 0);
            }
            points = at::tensor(xy, fopts).view({-1, 2});
            labels = at::tensor(l, lopts);
          }
          if (fp.box) {
            const Box& b = *fp.box;
            tracker->add_box(o.id, frame, at::tensor(std::vector<float>{b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy}, fopts),
                             points, labels);
          } else {
            tracker->add_points(o.id, frame, points, labels, /*clear_old=*/true);
          }
        }
        fp.dirty = false;
      }
    }
  }

  // The earliest (latest) frame with prompts.
  int64_t prompted_frame(bool latest) const {
    int64_t first = std::numeric_limits<int64_t>::max(), last = -1;
    for (const ObjectPrompts& o : objects) {
      if (o.frames.empty()) continue;
      first = std::min(first, o.frames.begin()->first);
      last = std::max(last, o.frames.rbegin()->first);
    }
    return latest ? last : first;
  }

  // The tracker's low-resolution result -> every object at the video's resolution.
  TrackFrame postprocess(const models::VideoFrameResult& r) const {
    const int64_t W = source->width(), H = source->height();
    TrackFrame f;
    f.index = r.frame;
    f.width = W;
    f.height = H;
    const at::Tensor masks =
        pipeline::upsample_mask_logits(r.masks.squeeze(1), H, W).gt(0).cpu();  // [N, H, W] bool
    const at::Tensor logits = r.object_score_logits.to(at::kFloat).cpu().contiguous();  // [N]
    const at::Tensor scores = at::sigmoid(logits);
    for (size_t k = 0; k < r.object_ids.size(); ++k) {
      const int64_t i = static_cast<int64_t>(k);
      f.objects.push_back(tracked(r.object_ids[k], logits[i].item<float>() > 0, scores[i].item<float>(), masks[i]));
    }
    return f;
  }
};

namespace {

// The text pipeline's post-processed objects of a frame -> TrackFrame (present objects
// only; score = detection score; box = the mask's tight box in pixel corners).
TrackFrame text_frame_result(int64_t index, const models::TextVideoObjects& post, int64_t W, int64_t H) {
  TrackFrame f;
  f.index = index;
  f.width = W;
  f.height = H;
  const at::Tensor ids = post.object_ids.to(at::kLong).cpu().contiguous();
  const at::Tensor scores = post.scores.to(at::kFloat).cpu().contiguous();
  const at::Tensor masks = post.masks.cpu();  // [K, H, W] bool
  for (int64_t k = 0; k < ids.numel(); ++k) {
    f.objects.push_back(tracked(ids[k].item<int64_t>(), true, scores[k].item<float>(), masks[k]));
  }
  return f;
}

// Thrown through the text pipeline's propagate() when the callback asks to stop.
struct StopPropagation {};

}  // namespace

VideoSession::VideoSession(std::shared_ptr<const Model> model, const std::string& video_path,
                           const VideoOptions& options)
    : VideoSession(model, open_for(model, video_path, options), options) {}

VideoSession::VideoSession(std::shared_ptr<const Model> model, std::unique_ptr<FrameSource> source,
                           const VideoOptions& options)
    : model_(std::move(model)) {
  const models::Modules& m = video_modules(model_);
  SAM3RT_CHECK(source != nullptr, kInvalidArgument, "VideoSession needs a frame source");
  SAM3RT_CHECK(source->num_frames() > 0 && source->width() > 0 && source->height() > 0, kInvalidArgument,
               source->name(), ": the video is empty (", source->num_frames(), " frames of ", source->width(), "x",
               source->height(), ")");
  SAM3RT_CHECK(options.max_objects >= 0, kInvalidArgument, "max_objects must be >= 0, got ", options.max_objects);
  auto state = std::make_unique<State>();
  state->options = options;
  state->modules = &m;
  state->image_size = m.config.tracker->image_size;
  state->device = m.tracker->no_memory_embedding.device();
  SAM3RT_CHECK(options.history_radius >= -1, kInvalidArgument, "history_radius must be >= -1, got ",
               options.history_radius);
  models::VideoTrackerOptions to;
  to.history_radius = options.history_radius;
  state->tracker = std::make_unique<models::VideoTracker>(*m.tracker, *m.frame_encoder, source->num_frames(), to);
  state->source = std::move(source);
  state_ = std::move(state);
}

VideoSession::~VideoSession() = default;
VideoSession::VideoSession(VideoSession&&) noexcept = default;
VideoSession& VideoSession::operator=(VideoSession&&) noexcept = default;

int64_t VideoSession::num_frames() const { return state_->source->num_frames(); }
int64_t VideoSession::width() const { return state_->source->width(); }
int64_t VideoSession::height() const { return state_->source->height(); }
double VideoSession::fps() const { return state_->source->fps(); }
at::Tensor VideoSession::frame(int64_t index) { return state_->source->frame(index); }

void VideoSession::add_points(int64_t frame, int64_t object_id, const std::vector<Point>& points) {
  return pipeline::at_edge([&] {
    State& s = *state_;
    s.check_frame(frame, "points");
    s.check_no_text(object_id);
    SAM3RT_CHECK(!points.empty(), kInvalidArgument, "object ", object_id, ", frame ", frame, ": no points given");
    const int64_t W = s.source->width(), H = s.source->height();
    for (size_t i = 0; i < points.size(); ++i) {
      const Point& p = points[i];
      SAM3RT_CHECK(std::isfinite(p.x) && std::isfinite(p.y) && p.x >= 0 && p.y >= 0 && p.x <= W && p.y <= H,
                   kInvalidArgument, "object ", object_id, ", frame ", frame, ": point (", p.x, ",", p.y,
                   ") lies outside the ", W, "x", H, " video");
    }
    const State::FramePrompts* e = s.existing(object_id, frame);
    if (e == nullptr && s.find(object_id) == nullptr) s.check_new_object(object_id);
    SAM3RT_CHECK(e == nullptr || !e->mask.defined(), kInvalidArgument, "object ", object_id, " has a mask prompt on frame ",
                 frame, "; points and boxes cannot be added to a mask on the same frame");
    State::FramePrompts& fp = s.slot(object_id, frame);
    fp.points.insert(fp.points.end(), points.begin(), points.end());
    fp.dirty = true;
  });
}

void VideoSession::add_box(int64_t frame, int64_t object_id, const Box& box) {
  return pipeline::at_edge([&] {
    State& s = *state_;
    s.check_frame(frame, "box");
    s.check_no_text(object_id);
    const int64_t W = s.source->width(), H = s.source->height();
    const Box& b = box;
    SAM3RT_CHECK(std::isfinite(b.x1) && std::isfinite(b.y1) && std::isfinite(b.x2) && std::isfinite(b.y2),
                 kInvalidArgument, "object ", object_id, ", frame ", frame, ": box ", box_text(b), " is not finite");
    SAM3RT_CHECK(b.x2 > b.x1 && b.y2 > b.y1, kInvalidArgument, "object ", object_id, ", frame ", frame, ": box ",
                 box_text(b), " needs x2 > x1 and y2 > y1");
    SAM3RT_CHECK(b.x1 >= 0 && b.y1 >= 0 && b.x2 <= W && b.y2 <= H, kInvalidArgument, "object ", object_id, ", frame ",
                 frame, ": box ", box_text(b), " lies outside the ", W, "x", H, " video");
    SAM3RT_CHECK(b.positive, kInvalidArgument, "object ", object_id, ", frame ", frame, ": box ", box_text(b),
                 " is negative; an object takes positive boxes only");
    const State::FramePrompts* e = s.existing(object_id, frame);
    if (e == nullptr && s.find(object_id) == nullptr) s.check_new_object(object_id);
    SAM3RT_CHECK(e == nullptr || !e->mask.defined(), kInvalidArgument, "object ", object_id, " has a mask prompt on frame ",
                 frame, "; points and boxes cannot be added to a mask on the same frame");
    SAM3RT_CHECK(e == nullptr || !e->box, kInvalidArgument, "object ", object_id, " already has a box on frame ", frame,
                 " ", e && e->box ? box_text(*e->box) : "", "; one box per object and frame (use another object id)");
    State::FramePrompts& fp = s.slot(object_id, frame);
    fp.box = b;
    fp.dirty = true;
  });
}

void VideoSession::add_mask(int64_t frame, int64_t object_id, const at::Tensor& mask) {
  return pipeline::at_edge([&] {
    State& s = *state_;
    s.check_frame(frame, "mask");
    s.check_no_text(object_id);
    const int64_t W = s.source->width(), H = s.source->height();
    SAM3RT_CHECK(mask.defined() && (mask.scalar_type() == at::kBool || mask.scalar_type() == at::kByte),
                 kInvalidArgument, "object ", object_id, ", frame ", frame, ": a mask prompt must be bool or uint8");
    SAM3RT_CHECK(mask.dim() == 2 && mask.size(0) == H && mask.size(1) == W, kInvalidArgument, "object ", object_id,
                 ", frame ", frame, ": a mask prompt must have the video's size [", H, ", ", W, "], got ", mask.sizes());
    const State::FramePrompts* e = s.existing(object_id, frame);
    if (e == nullptr && s.find(object_id) == nullptr) s.check_new_object(object_id);
    SAM3RT_CHECK(e == nullptr || (e->points.empty() && !e->box), kInvalidArgument, "object ", object_id,
                 " has points or a box on frame ", frame, "; a mask cannot be combined with them on the same frame");
    State::FramePrompts& fp = s.slot(object_id, frame);
    fp.mask = mask.ne(0).cpu().contiguous();
    fp.dirty = true;
  });
}

void VideoSession::add_text(const std::string& text, int64_t frame) {
  return pipeline::at_edge([&] {
    State& s = *state_;
    SAM3RT_CHECK(!text.empty(), kInvalidArgument, "a text prompt must not be empty");
    s.check_frame(frame, "text");
    const Model::Impl& impl = model_impl(*model_);
    SAM3RT_CHECK(model_->can_segment_concepts() && impl.tokenizer.has_value() && impl.modules->config.video.has_value(),
                 kUnsupported, "model type ", model_->type_name(),
                 " has no detector for text prompts on videos (needs the sam3_video layout)");
    SAM3RT_CHECK(s.objects.empty(), kInvalidArgument, "text prompt '", text, "': this session already has objects "
                 "prompted with points, boxes or masks; text prompts number their own objects, so a session takes "
                 "either text or clicks");
    SAM3RT_CHECK(!s.text_started, kInvalidArgument, "text prompt '", text,
                 "': add every text before the first propagate() (reset() starts over)");
    const auto enc = impl.tokenizer->encode(text, static_cast<int>(impl.config.detector->text.max_position_embeddings));
    const auto lopts = at::TensorOptions().dtype(at::kLong);
    const at::Tensor ids = at::tensor(enc.ids, lopts).view({1, -1});
    const at::Tensor mask = at::tensor(enc.attention_mask, lopts).view({1, -1});
    if (!s.text) {
      models::TextVideoOptions to =
          impl.options.hf_text_only ? models::TextVideoOptions::transformers() : models::TextVideoOptions{};
      to.max_objects = s.options.max_objects;
      to.tracker.history_radius = s.options.history_radius;
      s.text = std::make_unique<models::TextVideoSession>(*impl.modules, s.source->num_frames(), s.source->height(),
                                                          s.source->width(), to);
    }
    s.text->add_prompt(text, ids, mask);
    if (std::find(s.texts.begin(), s.texts.end(), text) == s.texts.end()) s.texts.push_back(text);
    s.text_frame = s.text_frame < 0 ? frame : std::min(s.text_frame, frame);
  });
}

std::vector<int64_t> VideoSession::object_ids() const {
  if (state_->text) return state_->text->object_ids();
  std::vector<int64_t> ids;
  for (const auto& o : state_->objects) ids.push_back(o.id);
  return ids;
}

std::vector<std::string> VideoSession::texts() const { return state_->texts; }

int64_t VideoSession::propagate_text(const TrackCallback& on_frame, const PropagateOptions& options) {
  State& s = *state_;
  const int64_t start = options.start_frame >= 0 ? options.start_frame : s.text_frame;
  s.check_frame(start, "propagation start");
  s.text_started = true;
  if (options.reverse && start == 0) return 0;  // backwards from frame 0: nothing before it
  // The pipeline counts frames after the first: start..start+m forwards, start-1..start-m
  // backwards.
  const int64_t max_frames =
      options.max_frames > 0 ? (options.reverse ? options.max_frames : options.max_frames - 1) : -1;
  const int64_t W = s.source->width(), H = s.source->height();
  // Per-frame timings, kept until the frame is delivered (hotstart holds results back).
  std::map<int64_t, std::map<std::string, double>> timings;
  int64_t last = -1;          // the frame being tracked
  Clock::time_point last_end;  // when its pixels were ready
  double callback_ms = 0;      // time spent delivering since then
  auto close_track = [&](Clock::time_point now) {
    auto it = timings.find(last);  // absent once delivered
    if (it != timings.end() && !it->second.count("track")) {
      it->second["track"] = std::chrono::duration<double, std::milli>(now - last_end).count() - callback_ms;
    }
  };
  auto frames = [&](int64_t i) {
    close_track(Clock::now());
    auto t0 = Clock::now();
    const at::Tensor rgb = s.source->frame(i);
    timings[i]["decode"] = ms_since(t0);
    t0 = Clock::now();
    at::Tensor pixels = model_impl(*model_).preprocess(rgb);
    timings[i]["preprocess"] = ms_since(t0);
    last = i;
    last_end = Clock::now();
    callback_ms = 0;
    return pixels;
  };
  int64_t delivered = 0;
  auto deliver = [&](const models::TextVideoFrameResult& r, const models::TextVideoObjects& post) {
    const auto t0 = Clock::now();
    if (r.frame == last) close_track(t0);
    TrackFrame f = text_frame_result(r.frame, post, W, H);
    f.timings_ms = std::move(timings[r.frame]);
    timings.erase(r.frame);
    f.timings_ms["postprocess"] = ms_since(t0);
    ++delivered;
    const bool go = on_frame(f);
    callback_ms += ms_since(t0);
    if (!go) throw StopPropagation{};
  };
  try {
    s.text->propagate(frames, deliver, start, max_frames, options.reverse);
  } catch (const StopPropagation&) {
  }
  return delivered;
}

int64_t VideoSession::propagate(const TrackCallback& on_frame, const PropagateOptions& options) {
  return pipeline::at_edge([&] {
    State& s = *state_;
    SAM3RT_CHECK(static_cast<bool>(on_frame), kInvalidArgument, "propagate() needs a callback");
    if (s.text) return propagate_text(on_frame, options);
    SAM3RT_CHECK(!s.objects.empty(), kInvalidArgument,
                 "nothing to track: add points, a box, a mask or a text first");
    const int64_t start = options.start_frame >= 0 ? options.start_frame : s.prompted_frame(options.reverse);
    s.check_frame(start, "propagation start");
    s.flush();
    const int64_t n = s.source->num_frames();
    const int64_t limit = options.max_frames > 0 ? options.max_frames : std::numeric_limits<int64_t>::max();
    const int64_t step = options.reverse ? -1 : 1;
    int64_t delivered = 0;
    for (int64_t i = start; i >= 0 && i < n && delivered < limit; i += step) {
      std::map<std::string, double> timings;
      auto t0 = Clock::now();
      const at::Tensor rgb = s.source->frame(i);
      timings["decode"] = ms_since(t0);
      t0 = Clock::now();
      models::VideoFrame vf;
      vf.index = i;
      vf.pixel_values = model_impl(*model_).preprocess(rgb);  // [1, 3, S, S]
      timings["preprocess"] = ms_since(t0);
      t0 = Clock::now();
      const models::VideoFrameResult r = s.tracker->track(vf, options.reverse);
      timings["track"] = ms_since(t0);
      t0 = Clock::now();
      TrackFrame f = s.postprocess(r);
      timings["postprocess"] = ms_since(t0);
      f.timings_ms = std::move(timings);
      ++delivered;
      if (!on_frame(f)) break;
    }
    return delivered;
  });
}

void VideoSession::reset() {
  State& s = *state_;
  s.objects.clear();
  s.tracker->reset();
  s.text.reset();
  s.texts.clear();
  s.text_frame = -1;
  s.text_started = false;
}

}  // namespace sam3rt
