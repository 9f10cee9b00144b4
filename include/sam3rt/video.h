// sam3rt's video API: frame sources and the video session: objects prompted with clicks,
// boxes or masks on any frame, or every instance of a text, tracked through the video with
// memory.
//
// Basic use:
//   auto model = sam3rt::Model::load(mo);            // a sam3_video checkpoint (facebook/sam3)
//   sam3rt::VideoSession session(model, "clip.mp4");  // or a folder of JPEG/PNG frames
//   session.add_points(0, 1, {{420, 310}});          // frame 0, object 1: one click (video pixels)
//   session.add_box(0, 2, {100, 80, 300, 260});      // frame 0, object 2: a box
//   session.propagate([](const sam3rt::TrackFrame& f) {
//     for (const auto& o : f.objects) { /* o.id, o.mask [H, W] bool, o.box, o.score */ }
//     return true;                                   // false stops early
//   });
//
// Streaming: frames are decoded when the tracker needs them (a small cache serves backward
// access), the tracker keeps conditioning frames plus a bounded window of recent memories,
// and every result goes to the callback rather than into the session, so memory stays flat
// with the video's length.
//
// Text prompts instead of clicks:
//   session.add_text("person");                      // every person, numbered by the detector
//   session.propagate(on_frame);                     // objects appear and leave frame by frame
//
// Thread-safety: a FrameSource and a VideoSession are not thread-safe (use one per thread);
// the Model they share is.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sam3rt/model.h"
#include "sam3rt/types.h"

namespace sam3rt {

// Random access to the frames of one video. Implementations decode on demand; frame()
// may be called in any order (forward playback is the fast path).
class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual int64_t num_frames() const = 0;  // > 0
  virtual int64_t width() const = 0;
  virtual int64_t height() const = 0;
  // Frames per second; 0 when unknown (frame folders).
  virtual double fps() const = 0;
  // What the frames come from (a path), for messages.
  virtual std::string name() const = 0;
  // Frame `index` (0-based) as RGB uint8 [height, width, 3], contiguous, on the CPU. Throws
  // Error(kInvalidArgument) for an index outside [0, num_frames), Error(kCorruption) for a
  // frame that cannot be decoded or has another size than the video.
  virtual at::Tensor frame(int64_t index) = 0;
};

struct FrameSourceOptions {
  // Decoded frames kept in a least-recently-used cache. Going backwards through a video
  // file decodes this many frames per seek, so reverse playback costs one seek per
  // `cache_frames` frames. At least 1.
  int cache_frames = 8;
};

// Opens `path`: a video file (mp4, avi, mkv, ... through OpenCV's FFmpeg backend) or a
// folder of JPEG/PNG frames (files ending .jpg, .jpeg or .png, any case; other files are
// ignored), ordered numerically when every file name's stem is an integer (0.jpg, 1.jpg,
// ..., 10.jpg) and byte-wise lexicographically otherwise. Nothing is decoded but the first
// frame (a folder: for the size) and, for a video file, the last one (to confirm the frame
// count the container declares; if it cannot be decoded the frames are counted).
// Throws Error: kNotFound (no such path, or a folder without frames), kCorruption (not a
// readable video or image), kUnsupported (a video file in a build without OpenCV: use a
// frame folder).
std::unique_ptr<FrameSource> open_frame_source(const std::string& path, const FrameSourceOptions& options = {});

// Per session.
struct VideoOptions {
  // At most this many objects (distinct ids) in the session; 0 = no limit. With text
  // prompts it caps the masklets the detector may start (with the config's
  // max_num_objects, whichever is smaller).
  int max_objects = 0;
  // Decoded-frame cache of a source opened from a path (see FrameSourceOptions).
  int cache_frames = 8;
  // Non-conditioning memories (tracked frames; prompted frames are always kept) are kept
  // for frames at most this far from the last tracked frame. 0 (default): exactly what
  // continuing from there in either direction reads, so memory stays flat with the video's
  // length. -1: every frame's, as transformers' session does (memory grows with the video);
  // only then does a correction on a frame far behind the last tracked one see the same
  // past memories as transformers gives it.
  int64_t history_radius = 0;
};

// Per propagate() call.
struct PropagateOptions {
  // false: start_frame, start_frame + 1, ... to the last frame. true: start_frame,
  // start_frame - 1, ... down to frame 0 (objects then see the video played backwards).
  // With text prompts, backwards starts at start_frame - 1, as transformers' Sam3VideoModel
  // does (the start frame belongs to the forward pass).
  bool reverse = false;
  // -1: the earliest frame that has prompts going forwards, the latest going backwards, so
  // that one pass in either direction meets every prompt. (SAM 2 and transformers start
  // from the earliest in both directions; pass it explicitly for that.) Text prompts: the
  // frame given to add_text() (the earliest, if several).
  int64_t start_frame = -1;
  // At most this many frames, the start frame included; 0 = no limit.
  int64_t max_frames = 0;
};

// One object on one frame.
struct TrackedObject {
  int64_t id = 0;
  bool present = false;  // the tracker's object score logit > 0 (else the mask is empty)
  float score = 0;       // sigmoid of the object score logit
  at::Tensor mask;       // [height, width] bool at the video's resolution
  Box box;               // tight box of the mask, pixel corners (all 0 when empty)
  int64_t area = 0;      // mask pixels
};

// The tracker's result for one frame. Clicks, boxes and masks: every object of the
// session, in the order objects were first prompted (an object prompted only on later
// frames is reported absent). Text: the objects the pipeline shows on this frame (ids
// ascending, all present; score = the detection score of the object; the box is the tight
// box of the final mask, where transformers' postprocess_outputs gives the extent of the
// mask before the object-wise non-overlap).
struct TrackFrame {
  int64_t index = 0;                         // frame index in the video
  int64_t width = 0, height = 0;             // video resolution
  std::vector<TrackedObject> objects;
  std::map<std::string, double> timings_ms;  // decode, preprocess, track, postprocess
};

// Receives each frame's result during propagate(); return false to stop.
using TrackCallback = std::function<bool(const TrackFrame&)>;

class VideoSession {
 public:
  // The model must have the video tracker (sam3_video layout, e.g. facebook/sam3), else
  // Error(kUnsupported). The first form opens `video_path` with open_frame_source (its
  // errors), the second takes any source.
  VideoSession(std::shared_ptr<const Model> model, const std::string& video_path, const VideoOptions& options = {});
  VideoSession(std::shared_ptr<const Model> model, std::unique_ptr<FrameSource> source,
               const VideoOptions& options = {});
  ~VideoSession();
  VideoSession(VideoSession&&) noexcept;
  VideoSession& operator=(VideoSession&&) noexcept;

  int64_t num_frames() const;
  int64_t width() const;
  int64_t height() const;
  double fps() const;
  // Frame `index` of the source (RGB uint8 [H, W, 3]; recently used frames come from the
  // cache, e.g. to draw a result that propagate() just delivered).
  at::Tensor frame(int64_t index);

  // Prompts for object `object_id` (any integer; the first prompt of a new id adds the
  // object) on frame `frame`, in video pixels. Prompts accumulate per object and frame:
  // points add to the points already given there, and one box and points go together (the
  // box is SAM's first two prompt tokens, the points follow). A mask replaces the frame's
  // earlier mask and excludes points and a box on the same frame. They take effect on the
  // next propagate(): a frame the object was never tracked on becomes a conditioning
  // frame; on an already tracked frame they are a correction (see
  // models/tracker/video_tracker.h for the semantics).
  // Throws Error(kInvalidArgument), changing nothing, for: a frame outside the video; no
  // points; a point or box outside the frame, a box with x2 <= x1 or y2 <= y1 or marked
  // negative; a second box for the same object and frame; points or a box where that
  // object has a mask on that frame, or the reverse; a mask of another size than the
  // video; a new object beyond VideoOptions::max_objects; a session with text prompts.
  void add_points(int64_t frame, int64_t object_id, const std::vector<Point>& points);
  void add_box(int64_t frame, int64_t object_id, const Box& box);
  // mask: [height, width] bool or uint8 (non-zero = object) at the video's resolution.
  void add_mask(int64_t frame, int64_t object_id, const at::Tensor& mask);

  // Detect and track every instance of `text` (several texts: each finds its own
  // instances) with the detector-driven pipeline (models/video/text_video.h: transformers'
  // Sam3VideoModel; ModelOptions::hf_text_only selects its text-only detector query, else
  // Meta's with the geometry CLS token). Objects get ids from the pipeline, start, continue
  // and end by its matching, hotstart and keep-alive rules; results are held back
  // hotstart_delay - 1 frames (config) so that masklets removed by hotstart never show.
  // `frame` is where propagate() starts by default. Throws Error(kInvalidArgument) for an
  // empty text, a frame outside the video, a session that already has click, box or mask
  // prompts (text-found objects are numbered by the detector, so a session takes either),
  // or a text added after propagation started; Error(kUnsupported) for a model without the
  // detector and its video config (sam3_video layout).
  void add_text(const std::string& text, int64_t frame = 0);
  // The texts added, in order.
  std::vector<std::string> texts() const;

  // Clicks, boxes, masks: the ids of the objects with prompts, in the order they were first
  // prompted. Text: the ids of the masklets the pipeline holds now.
  std::vector<int64_t> object_ids() const;

  // Tracks every object frame by frame (see PropagateOptions), calling on_frame after each
  // frame; returns the number of frames delivered. May be called again: in the other
  // direction, from another frame, or after corrections. Throws Error(kInvalidArgument)
  // without prompts or for a start frame outside the video; the source's errors (a frame
  // that cannot be decoded) propagate, as do the callback's exceptions. With text prompts,
  // stopping early (on_frame returns false) drops the frames held back for hotstart.
  int64_t propagate(const TrackCallback& on_frame, const PropagateOptions& options = {});

  // Forgets every object, prompt and memory (the video stays open).
  void reset();

  struct State;

 private:
  int64_t propagate_text(const TrackCallback& on_frame, const PropagateOptions& options);

  std::shared_ptr<const Model> model_;
  std::unique_ptr<State> state_;
};

}  // namespace sam3rt
