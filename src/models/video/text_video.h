// Text-prompted video segmentation and tracking (architecture §10.8; transformers
// Sam3VideoModel with Sam3VideoProcessor.postprocess_outputs): on every frame the detector
// finds the prompt's instances, the video tracker propagates the masklets it already has,
// detections are matched with the masklets, unmatched confident detections start new
// masklets, and the hotstart, keep-alive, occlusion and overlap rules remove or suppress
// masklets. Every threshold and frame count comes from the config's VideoPipelineConfig.
//
// Per frame (track()):
//  1. ViT + detector neck once; per text prompt the detector (its text features cached),
//     score = sigmoid(logit) * sigmoid(presence), optional greedy mask NMS (det_nms_thresh),
//     detections with score > score_threshold_detection; all prompts' detections merged.
//  2. The tracker propagates every masklet to the frame without encoding memory; optional
//     hole filling / sprinkle removal (fill_hole_area) of its low-resolution masks.
//  3. Matching (masklet_matching.h), the object limit (max_num_objects, best scores kept),
//     new ids (max id + 1, ...), hotstart: a masklet first seen less than hotstart_delay
//     frames ago is removed once unmatched on hotstart_unmatch_thresh frames or when it
//     shares a detection with an older masklet on hotstart_dup_thresh frames; keep-alive
//     counters; periodic reconditioning (every recondition_every_nth_frame frames a
//     masklet confirmed by a confident detection becomes a conditioning frame); masklets
//     overlapping a less recently occluded one are suppressed; memories are encoded from
//     the masks after the pixel-wise non-overlap shrink rule (scores +-10 by area).
//  4. New masklets start from their detector masks (the tracker's mask prompt); removed
//     masklets leave the tracker.
//  5. Outputs: the low-resolution mask logits per object id (tracked masks, detector masks
//     for new and reconditioned objects), detection scores, tracker scores.
// propagate() runs frames in order and holds each frame's output back hotstart_delay frames
// so that masklets removed by hotstart are hidden from frames already processed;
// postprocess() makes video-resolution masks, boxes and scores.
//
// Semantics follow transformers (the parity reference); its deviations from Meta's
// predictor are options where cheap (TextVideoOptions), and otherwise:
//  - when new masklets start on a frame, transformers re-runs every existing masklet on
//    that frame (same masks) and re-encodes its memory from the binarised mask, replacing
//    the memory written after the overlap rules (Meta keeps the new masklets in a separate
//    tracker state and leaves the others alone); this is what happens here;
//  - a new masklet's mask prompt is its detector logits >= 0.5, resized (bilinear,
//    antialiased) to the input size and kept soft (Meta: logits resized to 16G, > 0, and
//    handed over at video resolution); not implemented;
//  - reconditioning compares the tracker's object-score LOGIT with high_conf_thresh (a
//    probability threshold), as both implementations do;
//  - reverse propagation starts one frame before `start` (transformers' processing order);
//  - a frame processed a second time starts its tracker-score table afresh (transformers
//    keeps the first pass's entries for that frame);
//  - streaming (num_frames < 0) disables hotstart removal as transformers does for streamed
//    frames; the tracker then uses max_object_pointers_in_encoder pointers (transformers: at
//    most the number of frames seen so far).
//
// Thread-safety: not thread-safe; the modules are only read.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "models/modules.h"
#include "models/sam3/detector.h"
#include "models/tracker/tracker.h"
#include "models/tracker/video_tracker.h"

namespace sam3rt::models {

// The detector's prompt tokens on each frame.
enum class DetectorQuery {
  kText,               // transformers: the text tokens only (geometry encoder skipped)
  kTextAndClsToken,    // Meta: the geometry encoder runs without boxes and adds its image-conditioned CLS token
  kTextAndPaddingBox,  // one padding box (label -10): the same CLS token through the box path (as the v1 fixture ran
                       // it)
};

struct TextVideoOptions {
  DetectorQuery query = DetectorQuery::kTextAndClsToken;
  // Greedy mask NMS of each frame's detections at the config's det_nms_thresh (0 disables
  // it; transformers skips it silently without the hub `kernels` package).
  bool nms = true;
  // Hole filling and sprinkle removal at the config's fill_hole_area (0 disables it; also
  // skipped by transformers without `kernels`).
  bool fill_holes = true;
  // How a frame's propagated masks and tracker scores are given to object ids.
  // false (transformers): paired in order with the session's objects AFTER the frame's
  //   additions and removals, so when a masklet is removed the masks and scores of the
  //   ones after it shift onto their predecessors' ids on that frame.
  // true (Meta): paired with the masklets that were propagated.
  bool meta_output_pairing = false;
  // > 0: at most this many masklets, below the config's max_num_objects.
  int64_t max_objects = 0;
  VideoTrackerOptions tracker;

  // Exactly what transformers' Sam3VideoModel computes (text-only detector query).
  static TextVideoOptions transformers();
};

// One processed frame (transformers' Sam3VideoSegmentationOutput).
struct TextVideoFrameResult {
  int64_t frame = 0;
  std::vector<int64_t> object_ids;           // the session's masklets after this frame
  std::vector<int64_t> mask_object_ids;      // ids with a mask on this frame, ascending
  at::Tensor masks;                          // [K, h, h] low-resolution mask logits, order of mask_object_ids
  std::map<int64_t, double> scores;          // detection score of every masklet so far (-1e4 once removed)
  std::map<int64_t, double> tracker_scores;  // this frame: sigmoid(object score) (detection score when new)
  std::set<int64_t> removed_object_ids;      // removed by hotstart so far
  std::set<int64_t> suppressed_object_ids;   // suppressed on this frame (keep-alive exhausted)
};

// The post-processed objects of a frame (transformers' postprocess_outputs).
struct TextVideoObjects {
  at::Tensor object_ids;            // [K] int64, ascending
  at::Tensor scores;                // [K] float detection scores
  at::Tensor boxes;                 // [K, 4] float x1, y1, x2, y2 (pixel indices of the mask's extent, inclusive)
  at::Tensor masks;                 // [K, H, W] bool at video resolution, non-overlapping within a prompt
  std::vector<int64_t> prompt_ids;  // [K] the prompt that found each object
};

// Intermediate results of one track() call (parity tests and debugging).
struct TextVideoTrace {
  struct Detection {
    int64_t prompt_id = 0;
    DetectorOutput output;
    Trace trace;  // the detector's intermediates ("geometry_encoder.last_hidden_state", ...)
  };
  std::vector<Detection> detections;       // per prompt
  std::vector<VideoTrackerTrace> tracker;  // per tracker call, in order: propagation, memory update, new masklets
};

class TextVideoSession {
 public:
  // num_frames: the video's length, or -1 when streaming. video_height x video_width: the
  // original frame size (for postprocess()). The modules must have a detector and a tracker
  // with memory (sam3_video layout), else Error(kUnsupported); they must outlive the session.
  TextVideoSession(const Modules& modules, int64_t num_frames, int64_t video_height, int64_t video_width,
                   const TextVideoOptions& options = {});

  // Adds a text prompt (token ids and attention mask [1, L] or [L]); returns its id (the
  // existing one for a text added before).
  int64_t add_prompt(const std::string& text, const at::Tensor& input_ids, const at::Tensor& attention_mask);

  // Detection and tracking on one frame: pixel_values [1, 3, S, S] or [3, S, S]
  // preprocessed. Error(kInvalidArgument) without prompts, for a frame outside the video
  // or mis-shaped pixels.
  TextVideoFrameResult track(int64_t frame, const at::Tensor& pixel_values, bool reverse = false,
                             TextVideoTrace* trace = nullptr);

  // Video-resolution objects of a frame result, hiding masklets suppressed on that frame and
  // those removed by hotstart (as propagate() has seen so far).
  TextVideoObjects postprocess(const TextVideoFrameResult& result) const;

  // track() over start, start + 1, ... (at most max_frames + 1 frames, < 0: to the end), or
  // start - 1, start - 2, ... down to 0 when reverse. With hotstart_delay > 0 each frame's
  // result is handed to on_frame only hotstart_delay - 1 frames later (all remaining ones
  // after the last frame), post-processed then. frames(i) supplies frame i's pixels;
  // on_trace, when given, gets each processed frame's trace right after it is processed.
  void propagate(const std::function<at::Tensor(int64_t)>& frames,
                 const std::function<void(const TextVideoFrameResult&, const TextVideoObjects&)>& on_frame,
                 int64_t start = 0, int64_t max_frames = -1, bool reverse = false,
                 const std::function<void(int64_t, const TextVideoTrace&)>& on_trace = {});

  const std::vector<int64_t>& object_ids() const { return object_ids_; }
  const std::set<int64_t>& hotstart_removed_object_ids() const { return hotstart_removed_; }
  int64_t num_frames() const { return num_frames_; }

 private:
  struct Prompt {
    std::string text;
    at::Tensor input_ids, attention_mask;  // [1, L]
    at::Tensor features;                   // [1, L, d] text features (computed on first use)
  };
  struct Detections {
    at::Tensor masks;                 // [N, h, h] logits
    at::Tensor scores;                // [N]
    std::vector<int64_t> prompt_ids;  // [N]
  };

  Detections detect_frame(const DetectorImageFeatures& image, TextVideoTrace* trace);
  int64_t prompt_of(int64_t object_id) const;

  const Modules& m_;
  VideoPipelineConfig c_;  // the config's, with options.max_objects applied
  int64_t num_frames_, video_height_, video_width_;
  TextVideoOptions options_;
  at::Device device_;
  int64_t image_size_ = 0;
  VideoTracker tracker_;
  std::vector<Prompt> prompts_;

  // Masklet bookkeeping (transformers' Sam3VideoInferenceSession).
  std::vector<int64_t> object_ids_;           // in tracker order
  std::map<int64_t, int64_t> object_prompt_;  // object id -> prompt id
  std::map<int64_t, double> scores_;          // object id -> detection score
  std::map<int64_t, int64_t> last_occluded_;  // object id -> frame last occluded or suppressed
  int64_t max_object_id_ = -1;
  std::map<int64_t, int64_t> first_frame_;                         // object id -> first frame
  std::map<int64_t, int64_t> unmatched_frames_;                    // object id -> number of frames unmatched
  std::map<int64_t, int64_t> keep_alive_;                          // object id -> keep-alive counter
  std::map<std::pair<int64_t, int64_t>, int64_t> overlap_frames_;  // (first object, later object) -> frames
  std::set<int64_t> removed_;                                      // removed by hotstart
  std::map<int64_t, std::set<int64_t>> suppressed_;                // frame -> suppressed object ids
  std::set<int64_t> hotstart_removed_;                             // removals propagate() has seen
};

}  // namespace sam3rt::models
