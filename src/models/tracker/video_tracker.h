// The video tracker from clicks, boxes and masks (architecture §10.4-§10.6; transformers
// Sam3TrackerVideoModel with Sam3TrackerVideoInferenceSession and the prompt handling of
// Sam3TrackerVideoProcessor): per-object memory banks, the per-frame tracking step, and
// propagation forwards or backwards through a video.
//
// One VideoTracker is one session over one video. Prompts are added per object and frame
// (coordinates in model-input pixels, the S x S canvas, S = image_size); they take effect
// the next time their frame is tracked. Each track() call processes one frame for every
// object: a prompted frame that was never tracked becomes a conditioning frame (prompt
// encoder + mask decoder on level-G features + no_memory_embedding); any other frame is
// conditioned on the object's memory bank by the memory attention first (prompts on an
// already-tracked frame are corrections). Then the memory encoder stores the frame's
// memory for every object that ran. A conditioning frame met again without new prompts
// returns its stored result.
//
// Streaming: a frame's features are computed from its pixels (or a shared ViT output) only
// when some object needs them, and dropped when track() returns; the memory banks keep
// conditioning frames and a bounded window of recent frames (VideoTrackerOptions::
// history_radius), so memory stays flat with the video's length.
//
// Semantics follow transformers (the parity reference); where it differs from Meta's
// predictor the difference is named at the option or below:
//  - a correction click is decoded without the frame's previous mask logits and stored as
//    a non-conditioning frame (Meta: iter_use_prev_mask_pred and
//    add_all_frames_to_correct_as_cond feed the previous logits and make the frame a
//    conditioning frame); not implemented;
//  - memories of all objects on a frame are encoded from binarised masks when any object
//    on it had prompts (binarize_memory_masks_of_all_objects);
//  - adding prompts for several objects before tracking keeps all of them pending
//    (transformers keeps only the last add call's objects pending, and then fails on the
//    others);
//  - an object with prompts waiting on other frames is tracked as usual on a frame without
//    prompts, and reported absent (logits -1024) while it has no conditioning frame yet
//    (transformers makes such a frame, if never tracked, a prompt-less conditioning frame).
//
// Thread-safety: not thread-safe; the modules are only read.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "models/modules.h"
#include "models/tracker/memory_bank.h"
#include "models/tracker/tracker.h"

namespace sam3rt::models {

struct VideoTrackerOptions {
  // Non-conditioning memories are kept for frames at most this far from the last tracked
  // frame. 0 (default): exactly what continuing from that frame in either direction can
  // read, max(num_maskmem - 1, max_object_pointers_in_encoder - 1). -1: keep every
  // frame's memory (transformers' session; memory grows with the video). A correction on a
  // frame outside the window sees fewer past memories than transformers would give it.
  int64_t history_radius = 0;
  // true (transformers): when any object on a frame had prompts, every object's memory on
  // that frame is encoded from its binarised mask (logit > 0). false (Meta): only the
  // prompted objects' masks are binarised, the others go through a sigmoid.
  bool binarize_memory_masks_of_all_objects = true;
  // false (Meta): object pointers come from the conditioning frames selected for the
  // memory (max_cond_frame_num of them). true (transformers): from every conditioning frame
  // not in the future. Equal while an object has at most max_cond_frame_num prompted
  // frames (always for SAM 2.1's -1).
  bool pointers_from_all_conditioning_frames = false;
  // Verification only (sam3rt verify): the reference's low-resolution mask logits
  // [1, 1, h, w] of an object on a frame, or an undefined tensor. Where it gives them for
  // a memory mask that is binarised, the memory is encoded from the reference's
  // binarisation, and the pixels where ours falls on the other side of the threshold are
  // counted in the trace: a threshold flip that rounding decides is reported instead of
  // carrying into every later frame.
  std::function<at::Tensor(int64_t frame, int64_t object_id)> reference_memory_mask_logits;
  // Verification only: the reference's memory-encoder output [k, mem, G, G] for the k
  // objects encoded on `frame` in this call, or an undefined tensor. Memory is stored in
  // bf16 (as transformers does), so features equal to within float rounding can still round
  // to different bf16 values and carry a difference into every later frame; where ours are
  // within 1e-4 (max abs, relative to the largest value) of these, these are stored and the
  // bf16 values that differ are counted in the trace (memory_rounding_flips).
  std::function<at::Tensor(int64_t frame)> reference_memory_features;
};

// One video frame handed to the tracker.
struct VideoFrame {
  int64_t index = 0;
  at::Tensor pixel_values;  // [1, 3, S, S] or [3, S, S] preprocessed pixels
  // Optional tracker features of this frame, computed once by the caller (e.g. the text
  // pipeline, which calls the tracker several times per frame); used when set.
  const TrackerImageFeatures* features = nullptr;
};

// Every object of the session on one frame, in the order objects were first prompted.
struct VideoFrameResult {
  int64_t frame = 0;
  std::vector<int64_t> object_ids;
  at::Tensor masks;                // [N, 1, 4G, 4G] low-resolution mask logits (-1024 where the object is absent)
  at::Tensor object_score_logits;  // [N] object present if > 0
};

// Intermediate results of one track() call (parity tests and debugging).
struct VideoTrackerTrace {
  struct ObjectStep {
    int64_t object_id = 0;
    bool conditioning = false;       // stored as a conditioning frame
    bool mask_input = false;         // a mask prompt taken as the output
    TrackerPredictTrace prompts;     // prompt embeddings (and decoder internals) of the decoder call
    TrackerPrediction decoder;       // the mask decoder's outputs
    at::Tensor memory_attention;     // [1, HW, d] memory-conditioned features (tracked frames only)
    at::Tensor object_pointer_proj;  // [1, 1, d] before the no-object blend
  };
  std::vector<ObjectStep> objects;  // the objects that ran inference, in order
  at::Tensor memory_features;       // [n, mem_dim, G, G] memory encoder output (before the occlusion embedding)
  // Per encoded object with reference_memory_mask_logits: (object id, pixels binarised
  // otherwise than the reference, the largest |logit| of ours among them).
  struct MaskFlips {
    int64_t object_id = 0;
    int64_t pixels = 0;
    float largest_logit = 0;
  };
  std::vector<MaskFlips> memory_mask_flips;
  // With reference_memory_features: stored bf16 values where ours would have rounded otherwise.
  int64_t memory_rounding_flips = 0;
  at::Tensor memory_pos;            // [n, mem_dim, G, G] its position encoding
};

class VideoTracker {
 public:
  // num_frames: the video's length, or -1 when streaming (length unknown; propagate()
  // then is unavailable). The tracker must have its memory modules (sam3_video,
  // sam2_video), else Error(kUnsupported). `tracker` and `encoder` must outlive this.
  VideoTracker(const TrackerModules& tracker, const FrameEncoder& encoder, int64_t num_frames,
               const VideoTrackerOptions& options = {});

  // Clicks for one object on one frame: points [N, 2] (x, y) in model-input pixels,
  // labels [N] (1 positive, 0 negative, 2/3 box corners). clear_old = false appends them
  // to the points already given on that frame. Replaces a mask prompt on that frame.
  void add_points(int64_t object_id, int64_t frame, const at::Tensor& points, const at::Tensor& labels,
                  bool clear_old = true);
  // A box [4] (x1, y1, x2, y2, model-input pixels) becomes two corner points (labels 2, 3)
  // followed by the optional points [N, 2] / labels [N]; it replaces the frame's prompts.
  void add_box(int64_t object_id, int64_t frame, const at::Tensor& box, const at::Tensor& points = {},
               const at::Tensor& labels = {});
  // A mask [H, W] (bool or 0/1 float) taken as the object's output on that frame; resized
  // to S x S (bilinear, antialiased, then >= 0.5) when H, W differ. Replaces the frame's points.
  // binarize = false keeps the resized values soft (transformers' Sam3VideoModel hands its
  // low-resolution detector masks to the tracker that way).
  void add_mask(int64_t object_id, int64_t frame, const at::Tensor& mask, bool binarize = true);

  // Tracks every object on one frame (reverse: the video is being played backwards).
  // Error(kInvalidArgument) without objects, for a frame outside the video or for
  // mis-shaped pixels.
  // encode_memory = false leaves the memories of the objects that ran on this frame
  // unencoded, for encode_memories() (the text pipeline decides the masks first).
  VideoFrameResult track(const VideoFrame& frame, bool reverse = false, VideoTrackerTrace* trace = nullptr,
                         bool encode_memory = true);

  // Encodes (replaces) the memory of `frame.index` for each of `object_ids` from mask
  // logits masks [N, 1, h, w] (any h, w; resized, antialiased, to the memory encoder's
  // input) and object score logits [N]: sigmoid of the logits, or logits > 0 when
  // `binarize`. Each object must have tracked that frame (Error(kInvalidArgument)).
  void encode_memories(const VideoFrame& frame, const std::vector<int64_t>& object_ids, const at::Tensor& masks,
                       const at::Tensor& object_score_logits, bool binarize, VideoTrackerTrace* trace = nullptr);

  // Makes the object's tracked (non-conditioning) entry of `frame` a conditioning one, as
  // if prompted there; `masks` [1, 1, 4G, 4G] is what a later track() of that frame returns.
  // No-op when the frame is a conditioning frame already; Error(kInvalidArgument) when the
  // object did not track it.
  void make_conditioning(int64_t object_id, int64_t frame, const at::Tensor& masks);

  // Forgets one object (no-op for an unknown id).
  void remove_object(int64_t object_id);

  // track() over start, start + 1, ... (reverse: start, start - 1, ... down to 0), at most
  // max_frames + 1 frames (< 0: to the end), calling on_frame after each. start < 0: the
  // earliest conditioning frame of any object. frames(i) supplies frame i.
  void propagate(const std::function<VideoFrame(int64_t)>& frames,
                 const std::function<void(const VideoFrameResult&)>& on_frame, int64_t start = -1,
                 int64_t max_frames = -1, bool reverse = false);

  std::vector<int64_t> object_ids() const;
  int64_t num_frames() const { return num_frames_; }
  // Memories held (conditioning and non-conditioning, over all objects).
  size_t num_stored_memories() const;
  // Forgets every object and prompt.
  void reset();

 private:
  struct PointInputs {
    at::Tensor points;  // [1, 1, N, 2] float
    at::Tensor labels;  // [1, 1, N] long
  };
  struct TrackedObject {
    int64_t id = 0;
    std::map<int64_t, PointInputs> points;
    std::map<int64_t, at::Tensor> masks;  // [1, 1, S, S] float 0/1
    ObjectMemoryBank bank;
    std::vector<bool> tracked;  // per frame: was tracked (not an initial conditioning frame)
    bool pending = false;       // has prompts not consumed yet
  };
  struct StepOutput {
    MemoryBankEntry entry;   // masks, pointer, score (features added by the memory encoding)
    at::Tensor high_res;     // [1, 1, S, S] mask logits for the memory encoder
    bool from_mask_prompt = false;  // high_res is the mask prompt itself (+-10), not decoder logits
  };

  TrackedObject& object(int64_t id);
  void check_frame(int64_t frame) const;
  StepOutput run_frame(TrackedObject& obj, int64_t frame, bool init_cond, const PointInputs* points,
                       const at::Tensor* mask, bool reverse, const TrackerImageFeatures& f,
                       VideoTrackerTrace::ObjectStep* trace) const;
  StepOutput mask_as_output(const at::Tensor& mask, const TrackerImageFeatures& f,
                            VideoTrackerTrace::ObjectStep* trace) const;
  at::Tensor memory_conditioned(const TrackedObject& obj, int64_t frame, bool reverse, const TrackerImageFeatures& f,
                                VideoTrackerTrace::ObjectStep* trace) const;
  StepOutput finish_decoder_output(const TrackerPrediction& p, bool multimask, VideoTrackerTrace::ObjectStep* trace) const;
  // Memory encoder over k objects of frame `fi`: masks [k, 1, h, w] logits, scores [k, 1];
  // targets = (object index, conditioning entry); binarize per object; exact: objects
  // whose masks are mask prompts (the reference_memory_mask_logits hook is not asked).
  void encode_frame_memories(int64_t fi, const TrackerImageFeatures& f,
                             const std::vector<std::pair<size_t, bool>>& targets, const at::Tensor& masks,
                             const at::Tensor& scores, const std::vector<bool>& binarize,
                             const std::vector<bool>& exact, VideoTrackerTrace* trace);

  const TrackerModules& t_;
  const FrameEncoder& encoder_;
  const TrackerMemoryModules& mem_;
  const TrackerVideoConfig& vc_;
  int64_t num_frames_;
  VideoTrackerOptions options_;
  int64_t image_size_ = 0, grid_ = 0, history_radius_ = 0;
  at::Device device_;
  at::Tensor vision_pos_;       // [1, HW, d] sine PE of the level-G features
  at::Tensor memory_pos_grid_;  // [HW, mem_dim] the memory's position encoding
  std::vector<TrackedObject> objects_;
};

}  // namespace sam3rt::models
