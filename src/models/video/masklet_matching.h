// Per-frame mask operations of the text-prompted video pipeline (architecture §10.8;
// transformers Sam3VideoModel / Sam3VideoProcessor, Meta's sam3_video_base): matching the
// detector's detections with the tracked masklets, detection NMS, hole filling, and the
// overlap rules that suppress masklets. Low-resolution masks are logits (> 0 foreground).
//
// Thresholds compare in float32 as the reference does (a float32 tensor against a Python
// float), so values on the boundary decide the same way.
//
// Thread-safety: plain functions; safe to call concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "io/config.h"

namespace sam3rt::models {

// IoU of binary masks a [N, H, W] and b [M, H, W] (bool): |a & b| / max(|a | b|, 1) as
// float [N, M].
at::Tensor mask_iou(const at::Tensor& a, const at::Tensor& b);

// Greedy mask NMS of one frame's detections: probs [Q], mask logits [Q, H, W]. Among the
// detections with prob > prob_threshold, taken by descending prob, each one whose mask IoU
// (logits > 0) with an already kept one exceeds iou_threshold is dropped. Returns keep [Q]
// bool (false for those at or below prob_threshold too).
at::Tensor nms_detections(const at::Tensor& probs, const at::Tensor& masks, double prob_threshold,
                          double iou_threshold);

// Hole filling and sprinkle removal on mask logits [N, 1, H, W] (8-connected components):
// background components (logit <= 0) of area <= max_area become 0.1; then foreground
// components of area <= min(max_area, floor(foreground area / 2)) become -0.1.
// max_area <= 0 returns the masks unchanged.
at::Tensor fill_holes_in_mask_scores(const at::Tensor& masks, int64_t max_area, bool fill_holes = true,
                                     bool remove_sprinkles = true);

// The outcome of matching one frame's detections with the tracked masklets.
struct DetectionMatch {
  // Detections that start new masklets (ascending): with tracks, those scoring >=
  // new_det_thresh that overlap no track with IoU >= assoc_iou_thresh; without tracks,
  // every detection.
  std::vector<int64_t> new_detections;
  // Tracks with a non-empty mask that no detection overlaps with IoU >= trk_assoc_iou_thresh.
  std::vector<int64_t> unmatched_object_ids;
  // Tracks whose mask is empty.
  std::vector<int64_t> empty_object_ids;
  // Per detection, the tracks (in track order) overlapping it with IoU >= assoc_iou_thresh;
  // empty (size 0) when there are no detections or no tracks.
  std::vector<std::vector<int64_t>> detection_object_ids;
  // (object id, detection index) for each track that a high-confidence (score >=
  // high_conf_thresh, not new) detection overlaps best with IoU >= high_iou_thresh; a later
  // detection replaces an earlier one for the same track, in the first one's place.
  std::vector<std::pair<int64_t, int64_t>> high_confidence;
};

// det_masks [N, H, W] logits, det_scores [N] probabilities, det_prompts [N] prompt ids;
// trk_masks [M, H, W] logits with their object ids and prompt ids. IoUs between a detection
// and a track of different prompts count as 0. Thresholds from the config.
DetectionMatch match_detections(const at::Tensor& det_masks, const at::Tensor& det_scores,
                                const std::vector<int64_t>& det_prompts, const at::Tensor& trk_masks,
                                const std::vector<int64_t>& trk_object_ids, const std::vector<int64_t>& trk_prompts,
                                const VideoPipelineConfig& config);

// Masklets to suppress because they overlap (IoU >= iou_threshold) a masklet that was
// occluded less recently: binary masks [N, H, W] of one prompt group, last_occluded [N]
// (frame index, -1 never). Of an overlapping pair, the one occluded more recently (later;
// earlier when `reverse`) is suppressed when the other was occluded at some point.
std::vector<bool> suppress_recently_occluded(const at::Tensor& binary_masks, const std::vector<int64_t>& last_occluded,
                                             double iou_threshold, bool reverse);

// Pixel-wise non-overlap: every pixel keeps only the object with the highest logit there
// (first on ties); the others' logits are clamped to <= -10. masks [N, 1, H, W].
at::Tensor apply_pixel_non_overlap(const at::Tensor& masks);

// Within each prompt group (groups [N]), objects whose foreground would shrink below
// shrink_threshold of its area under the pixel-wise non-overlap get their logits clamped to
// <= -10 everywhere; the others are returned unchanged. masks [N, 1, H, W].
at::Tensor suppress_shrunk_masks(const at::Tensor& masks, const std::vector<int64_t>& groups,
                                 double shrink_threshold = 0.3);

// Object-wise non-overlap of binary masks [N, H, W] within each prompt group: a pixel stays
// with the covering object of the highest score (first on ties), and only if that score is
// > 0. scores [N].
at::Tensor object_wise_non_overlap(const at::Tensor& masks, const at::Tensor& scores,
                                   const std::vector<int64_t>& groups);

}  // namespace sam3rt::models
