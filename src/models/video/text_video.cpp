#include "models/video/text_video.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/upsample_bilinear2d.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <deque>
#include <numeric>

#include "models/video/masklet_matching.h"
#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {

// Score given to removed masklets (kept in the score tables, as the reference does).
constexpr double kRemovedScore = -1e4;
// Logits of masks suppressed for overlapping a less recently occluded masklet.
constexpr double kNoObjectLogit = -10.0;
// Object score logits of memories encoded from the final masks (present / absent).
constexpr double kMemoryPresent = 10.0;
// last_occluded of a masklet removed on this frame that has no record yet.
constexpr int64_t kAlwaysOccluded = 100000;
constexpr int64_t kNeverOccluded = -1;

const VideoPipelineConfig& video_config_of(const Modules& m) {
  SAM3RT_CHECK(
      m.config.video.has_value() && m.detector.has_value() && m.tracker.has_value() && m.tracker->memory.has_value() &&
          m.sam3_tracker_encoder.has_value(),
      kUnsupported, "text-prompted video needs the sam3_video layout (detector, tracker and memory), got ",
      model_type_name(m.config.type));
  return *m.config.video;
}

std::vector<float> to_floats(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kCPU, at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

at::Tensor long_tensor(const std::vector<int64_t>& v, const at::Device& device) {
  return at::tensor(v, at::TensorOptions().dtype(at::kLong)).to(device);
}

// torchvision's masks_to_boxes: [K, H, W] bool (no empty mask) -> [K, 4] float x1, y1, x2, y2.
at::Tensor masks_to_boxes(const at::Tensor& masks) {
  const int64_t H = masks.size(1), W = masks.size(2);
  const auto lopt = masks.options().dtype(at::kLong);
  const at::Tensor xs = at::arange(W, lopt).view({1, W}), ys = at::arange(H, lopt).view({1, H});
  const at::Tensor cols = masks.any(1), rows = masks.any(2);  // [K, W], [K, H]
  const at::Tensor big_w = at::full({}, W, lopt), big_h = at::full({}, H, lopt), neg = at::full({}, -1, lopt);
  const at::Tensor x1 = at::where(cols, xs, big_w).amin(1), x2 = at::where(cols, xs, neg).amax(1);
  const at::Tensor y1 = at::where(rows, ys, big_h).amin(1), y2 = at::where(rows, ys, neg).amax(1);
  return at::stack({x1, y1, x2, y2}, 1).to(at::kFloat);
}

}  // namespace

TextVideoOptions TextVideoOptions::transformers() {
  TextVideoOptions o;
  o.query = DetectorQuery::kText;
  o.meta_output_pairing = false;
  o.tracker.pointers_from_all_conditioning_frames = true;
  return o;
}

TextVideoSession::TextVideoSession(const Modules& modules, int64_t num_frames, int64_t video_height,
                                   int64_t video_width, const TextVideoOptions& options)
    : m_(modules),
      c_(video_config_of(modules)),
      num_frames_(num_frames),
      video_height_(video_height),
      video_width_(video_width),
      options_(options),
      device_(modules.tracker->no_memory_embedding.device()),
      tracker_(*modules.tracker, *modules.sam3_tracker_encoder, num_frames, options.tracker) {
  SAM3RT_CHECK(video_height > 0 && video_width > 0, kInvalidArgument, "video size must be positive, got ", video_height,
               " x ", video_width);
  image_size_ = modules.config.tracker->image_size;
  SAM3RT_CHECK(options.max_objects >= 0, kInvalidArgument, "max_objects must be >= 0, got ", options.max_objects);
  if (options.max_objects > 0) c_.max_num_objects = std::min(c_.max_num_objects, options.max_objects);
}

int64_t TextVideoSession::add_prompt(const std::string& text, const at::Tensor& input_ids,
                                     const at::Tensor& attention_mask) {
  for (size_t i = 0; i < prompts_.size(); ++i) {
    if (prompts_[i].text == text) return static_cast<int64_t>(i);
  }
  SAM3RT_CHECK(input_ids.defined() && attention_mask.defined() && input_ids.numel() > 0 &&
                   input_ids.numel() == attention_mask.numel() && input_ids.dim() <= 2 &&
                   (input_ids.dim() < 2 || input_ids.size(0) == 1),
               kInvalidArgument, "a text prompt needs token ids and an attention mask of the same length [1, L]");
  SAM3RT_CHECK(!input_ids.is_floating_point() && !attention_mask.is_floating_point(), kInvalidArgument,
               "token ids and attention mask must be integers");
  Prompt p;
  p.text = text;
  p.input_ids = input_ids.reshape({1, -1}).to(device_, at::kLong);
  p.attention_mask = attention_mask.reshape({1, -1}).to(device_, at::kLong);
  prompts_.push_back(std::move(p));
  return static_cast<int64_t>(prompts_.size()) - 1;
}

int64_t TextVideoSession::prompt_of(int64_t object_id) const {
  auto it = object_prompt_.find(object_id);
  return it == object_prompt_.end() ? 0 : it->second;
}

TextVideoSession::Detections TextVideoSession::detect_frame(const DetectorImageFeatures& image, TextVideoTrace* trace) {
  std::vector<at::Tensor> masks, scores;
  Detections d;
  for (size_t pid = 0; pid < prompts_.size(); ++pid) {
    Prompt& p = prompts_[pid];
    if (!p.features.defined()) p.features = encode_text(m_, p.input_ids, p.attention_mask);
    DetectorPrompt q;
    q.text = p.features;
    q.text_valid = p.attention_mask.to(at::kBool);
    q.geometry_without_boxes = options_.query == DetectorQuery::kTextAndClsToken;
    if (options_.query == DetectorQuery::kTextAndPaddingBox) {
      q.boxes = at::zeros({1, 1, 4}, p.features.options());
      q.box_labels = at::full({1, 1}, -10, at::TensorOptions().dtype(at::kLong).device(device_));
    }
    Trace* dt = nullptr;
    if (trace) {
      trace->detections.emplace_back();
      trace->detections.back().prompt_id = static_cast<int64_t>(pid);
      dt = &trace->detections.back().trace;
    }
    const DetectorOutput out = detect(m_, image, q, dt);
    if (trace) trace->detections.back().output = out;
    at::Tensor probs = at::sigmoid(out.pred_logits).mul(at::sigmoid(out.presence_logits)).select(0, 0);  // [Q]
    const at::Tensor pred_masks = out.pred_masks.select(0, 0);                                           // [Q, h, h]
    if (options_.nms && c_.det_nms_thresh > 0.0) {
      const at::Tensor keep = nms_detections(probs, pred_masks, c_.score_threshold_detection, c_.det_nms_thresh);
      probs = at::where(keep, probs, at::zeros({}, probs.options()));
    }
    const at::Tensor idx = probs.gt(c_.score_threshold_detection).nonzero().view({-1});
    masks.push_back(pred_masks.index_select(0, idx));
    scores.push_back(probs.index_select(0, idx));
    d.prompt_ids.insert(d.prompt_ids.end(), idx.size(0), static_cast<int64_t>(pid));
  }
  d.masks = at::cat(masks, 0);
  d.scores = at::cat(scores, 0);
  return d;
}

TextVideoFrameResult TextVideoSession::track(int64_t f, const at::Tensor& pixel_values, bool reverse,
                                             TextVideoTrace* trace) {
  SAM3RT_CHECK(!prompts_.empty(), kInvalidArgument, "no text prompt: add one first");
  SAM3RT_CHECK(f >= 0 && (num_frames_ < 0 || f < num_frames_), kInvalidArgument, "frame ", f, " is outside the video (",
               num_frames_, " frames)");
  SAM3RT_CHECK(pixel_values.defined(), kInvalidArgument, "frame ", f, " has no pixels");
  const at::Tensor px = pixel_values.dim() == 3 ? pixel_values.unsqueeze(0) : pixel_values;
  SAM3RT_CHECK(
      px.dim() == 4 && px.size(0) == 1 && px.size(1) == 3 && px.size(2) == image_size_ && px.size(3) == image_size_,
      kInvalidArgument, "frame pixels must be [1, 3, ", image_size_, ", ", image_size_, "], got ",
      pixel_values.sizes());
  if (trace) *trace = TextVideoTrace{};
  const bool streaming = num_frames_ < 0;
  const auto fopts = m_.tracker->no_memory_embedding.options();

  // 1. Image features and detections.
  const DetectorImageFeatures image = encode_detector_image(m_, px.to(device_, fopts.dtype()));
  const Detections det = detect_frame(image, trace);
  const int64_t num_det = det.masks.size(0);
  const std::vector<float> det_scores = to_floats(det.scores);

  // 2. Propagation of the existing masklets (memory encoded after the heuristics).
  const Sam3TrackerImageEncoder& encoder = *m_.sam3_tracker_encoder;
  const TrackerImageFeatures tf = encode_tracker_levels(*m_.tracker, encoder, encoder.encode_vit(image.vit));
  const VideoFrame vf{f, at::Tensor(), &tf};
  const std::vector<int64_t> prev_ids = object_ids_;
  const int64_t num_trk = static_cast<int64_t>(prev_ids.size());
  at::Tensor trk_masks, trk_scores, trk_raw;  // [M, h, h], [M], [M, 1, h, h]
  auto tracker_trace = [&]() -> VideoTrackerTrace* {
    if (!trace) return nullptr;
    trace->tracker.emplace_back();
    return &trace->tracker.back();
  };
  if (num_trk > 0) {
    const VideoFrameResult prop = tracker_.track(vf, reverse, tracker_trace(), /*encode_memory=*/false);
    SAM3RT_CHECK(prop.object_ids == prev_ids, kInternal, "tracker objects out of step with the session");
    trk_raw = prop.masks;
    trk_masks = prop.masks.squeeze(1).clone();
    trk_scores = prop.object_score_logits.reshape({-1});
    if (options_.fill_holes)
      trk_masks = fill_holes_in_mask_scores(trk_masks.unsqueeze(1), c_.fill_hole_area).squeeze(1);
  } else {
    const int64_t h = num_det > 0 ? det.masks.size(1) : c_.low_res_mask_size;
    trk_masks = at::zeros({0, h, h}, fopts);
    trk_scores = at::zeros({0}, fopts);
  }
  const std::vector<float> trk_score_v = to_floats(trk_scores);

  // 3. Matching, new masklets, hotstart.
  std::vector<int64_t> trk_prompts;
  for (int64_t id : prev_ids) trk_prompts.push_back(prompt_of(id));
  const DetectionMatch match =
      match_detections(det.masks, det.scores, det.prompt_ids, trk_masks, prev_ids, trk_prompts, c_);
  std::vector<int64_t> new_dets = match.new_detections;
  if (num_trk + static_cast<int64_t>(new_dets.size()) > c_.max_num_objects) {
    // keep the best-scoring detections, best first
    const int64_t keep = std::max<int64_t>(0, c_.max_num_objects - num_trk);
    std::vector<int64_t> order = new_dets;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return det_scores[a] > det_scores[b]; });
    order.resize(std::min<size_t>(order.size(), static_cast<size_t>(keep)));
    new_dets = order;
  }
  std::vector<int64_t> new_ids;
  for (size_t k = 0; k < new_dets.size(); ++k) {
    new_ids.push_back(max_object_id_ + 1 + static_cast<int64_t>(k));
    object_prompt_[new_ids.back()] = det.prompt_ids[new_dets[k]];
  }

  std::set<int64_t> newly_removed;
  std::set<int64_t>& suppressed = suppressed_[f];
  const int64_t hotstart_diff = reverse ? f + c_.hotstart_delay : f - c_.hotstart_delay;
  auto within_hotstart = [&](int64_t id) {
    const int64_t first = first_frame_.at(id);
    return reverse ? first < hotstart_diff : first > hotstart_diff;
  };
  for (int64_t id : new_ids) {
    first_frame_.emplace(id, f);
    keep_alive_[id] = c_.init_trk_keep_alive;
  }
  std::set<int64_t> matched;
  for (const auto& ids : match.detection_object_ids) matched.insert(ids.begin(), ids.end());
  for (int64_t id : matched) keep_alive_[id] = std::min(c_.max_trk_keep_alive, keep_alive_[id] + 1);
  for (int64_t id : match.unmatched_object_ids) {
    ++unmatched_frames_[id];
    keep_alive_[id] = std::max(c_.min_trk_keep_alive, keep_alive_[id] - 1);
  }
  if (c_.decrease_trk_keep_alive_for_empty_masklets) {
    for (int64_t id : match.empty_object_ids) keep_alive_[id] = std::max(c_.min_trk_keep_alive, keep_alive_[id] - 1);
  }
  if (!streaming) {
    for (const auto& [id, count] : unmatched_frames_) {
      if (removed_.count(id) || newly_removed.count(id)) continue;
      if (count >= c_.hotstart_unmatch_thresh && within_hotstart(id)) newly_removed.insert(id);
      if (keep_alive_[id] <= 0 && !c_.suppress_unmatched_only_within_hotstart && !removed_.count(id) &&
          !newly_removed.count(id)) {
        suppressed.insert(id);
      }
    }
  }
  // Masklets sharing a detection: the later ones (first seen after the earliest) are
  // counted as duplicates of the earliest.
  for (const auto& ids : match.detection_object_ids) {
    if (ids.size() < 2) continue;
    int64_t first = ids[0];
    for (int64_t id : ids) {
      const bool earlier =
          reverse ? first_frame_.at(id) > first_frame_.at(first) : first_frame_.at(id) < first_frame_.at(first);
      if (earlier) first = id;
    }
    for (int64_t id : ids) {
      if (id != first) ++overlap_frames_[{first, id}];
    }
  }
  if (!streaming) {
    for (const auto& [pair, count] : overlap_frames_) {
      const int64_t id = pair.second;
      if (removed_.count(id) || newly_removed.count(id)) continue;
      if (within_hotstart(id) && count >= c_.hotstart_dup_thresh) newly_removed.insert(id);
    }
  }
  removed_.insert(newly_removed.begin(), newly_removed.end());

  // Periodic reconditioning: a masklet confirmed by a confident detection keeps this
  // frame as a conditioning frame (its tracked mask, or the detection's mask).
  std::map<int64_t, at::Tensor> recondition;  // track index -> [1, 1, h, h]
  std::set<int64_t> reconditioned;
  if (c_.recondition_every_nth_frame > 0 && f % c_.recondition_every_nth_frame == 0) {
    for (const auto& [id, d] : match.high_confidence) {
      const int64_t j = std::find(prev_ids.begin(), prev_ids.end(), id) - prev_ids.begin();
      if (trk_score_v[j] <= static_cast<float>(c_.high_conf_thresh)) continue;
      recondition[j] = c_.recondition_on_trk_masks
                           ? at::Tensor()  // the tracked mask itself (as it ends up)
                           : det.masks.slice(0, d, d + 1).unsqueeze(1).ge(0.5).to(fopts.dtype());
      reconditioned.insert(id);
    }
  }

  // Overlap suppression and memory encoding of the propagated masklets.
  std::map<int64_t, int64_t> last_occluded;
  if (num_trk > 0) {
    if (c_.suppress_overlapping_based_on_recent_occlusion_threshold > 0.0) {
      const at::Tensor binary = trk_masks.gt(0);
      std::vector<int64_t> last_prev(num_trk);
      for (int64_t j = 0; j < num_trk; ++j) {
        auto it = last_occluded_.find(prev_ids[j]);
        last_prev[j] = it != last_occluded_.end()
                           ? it->second
                           : (newly_removed.count(prev_ids[j]) ? kAlwaysOccluded : kNeverOccluded);
      }
      std::vector<bool> to_suppress(num_trk, false);
      std::map<int64_t, std::vector<int64_t>> groups;
      for (int64_t j = 0; j < num_trk; ++j) groups[trk_prompts[j]].push_back(j);
      for (const auto& [g, idx] : groups) {
        if (idx.size() <= 1) continue;
        std::vector<int64_t> lo;
        for (int64_t j : idx) lo.push_back(last_prev[j]);
        const std::vector<bool> s =
            suppress_recently_occluded(binary.index_select(0, long_tensor(idx, device_)), lo,
                                       c_.suppress_overlapping_based_on_recent_occlusion_threshold, reverse);
        for (size_t k = 0; k < idx.size(); ++k) to_suppress[idx[k]] = s[k];
      }
      const at::Tensor empty = binary.flatten(1).any(1).logical_not().cpu();
      std::vector<int64_t> suppress_idx;
      for (int64_t j = 0; j < num_trk; ++j) {
        const bool occluded = empty[j].item<bool>() || to_suppress[j];
        last_occluded[prev_ids[j]] = occluded ? f : last_prev[j];
        if (to_suppress[j]) suppress_idx.push_back(j);
      }
      if (!suppress_idx.empty()) trk_masks.index_fill_(0, long_tensor(suppress_idx, device_), kNoObjectLogit);
    }
    // Reconditioned masklets: their masks go into the memory (and the outputs) and the
    // frame becomes a conditioning frame.
    for (const auto& [j, mask] : recondition) {
      if (mask.defined()) trk_masks.slice(0, j, j + 1).copy_(mask.squeeze(1));
      tracker_.make_conditioning(prev_ids[j], f, trk_raw.slice(0, j, j + 1));
    }
    const at::Tensor mem_masks = suppress_shrunk_masks(trk_masks.unsqueeze(1), trk_prompts);  // [M, 1, h, h]
    const at::Tensor present = mem_masks.gt(0).flatten(1).any(1);
    const at::Tensor mem_scores =
        at::where(present, at::full({}, kMemoryPresent, fopts), at::full({}, -kMemoryPresent, fopts));
    tracker_.encode_memories(vf, prev_ids, mem_masks, mem_scores, /*binarize=*/false, tracker_trace());
  }

  // Bookkeeping of the new object list and scores.
  std::vector<int64_t> ids_after = prev_ids;
  ids_after.insert(ids_after.end(), new_ids.begin(), new_ids.end());
  ids_after.erase(
      std::remove_if(ids_after.begin(), ids_after.end(), [&](int64_t id) { return newly_removed.count(id) > 0; }),
      ids_after.end());
  std::map<int64_t, double> frame_tracker_scores;
  for (size_t k = 0; k < new_ids.size(); ++k) {
    scores_[new_ids[k]] = det_scores[new_dets[k]];
    frame_tracker_scores[new_ids[k]] = det_scores[new_dets[k]];
    max_object_id_ = std::max(max_object_id_, new_ids[k]);
  }
  for (int64_t id : newly_removed) {
    scores_[id] = kRemovedScore;
    frame_tracker_scores[id] = kRemovedScore;
    last_occluded.erase(id);
  }

  // 4. New masklets start from their detector masks; removed ones leave the tracker.
  if (!new_ids.empty()) {
    for (size_t k = 0; k < new_ids.size(); ++k) {
      const at::Tensor logits = det.masks.select(0, new_dets[k]);  // [h, h]
      tracker_.add_mask(new_ids[k], f, logits.ge(0.5).to(fopts.dtype()), /*binarize=*/false);
    }
    tracker_.track(vf, reverse, tracker_trace(), /*encode_memory=*/true);
  }
  for (int64_t id : newly_removed) tracker_.remove_object(id);
  object_ids_ = ids_after;
  last_occluded_ = std::move(last_occluded);

  // 5. Outputs.
  std::map<int64_t, at::Tensor> masks;  // object id -> [h, h]
  const std::vector<int64_t>& pairing = options_.meta_output_pairing ? prev_ids : ids_after;
  for (int64_t k = 0; k < std::min<int64_t>(num_trk, pairing.size()); ++k) masks[pairing[k]] = trk_masks.select(0, k);
  if (!new_ids.empty()) {
    at::Tensor new_masks = det.masks.index_select(0, long_tensor(new_dets, det.masks.device())).unsqueeze(1);
    if (options_.fill_holes) new_masks = fill_holes_in_mask_scores(new_masks, c_.fill_hole_area);
    for (size_t k = 0; k < new_ids.size(); ++k) masks[new_ids[k]] = new_masks.select(0, k).select(0, 0);
  }
  for (const auto& [id, d] : match.high_confidence) {
    if (reconditioned.count(id)) masks[id] = det.masks.select(0, d);
  }
  if (num_trk > 0) {
    const std::vector<float> sig = to_floats(at::sigmoid(trk_scores));
    for (int64_t k = 0; k < std::min<int64_t>(num_trk, pairing.size()); ++k) frame_tracker_scores[pairing[k]] = sig[k];
  }

  TextVideoFrameResult r;
  r.frame = f;
  r.object_ids = object_ids_;
  std::vector<at::Tensor> stacked;
  for (const auto& [id, m] : masks) {
    r.mask_object_ids.push_back(id);
    stacked.push_back(m);
  }
  r.masks = stacked.empty() ? at::zeros({0, trk_masks.size(1), trk_masks.size(2)}, fopts) : at::stack(stacked, 0);
  r.scores = scores_;
  r.tracker_scores = frame_tracker_scores;
  r.removed_object_ids = removed_;
  r.suppressed_object_ids = suppressed;
  return r;
}

TextVideoObjects TextVideoSession::postprocess(const TextVideoFrameResult& r) const {
  TextVideoObjects out;
  const auto lopt = at::TensorOptions().dtype(at::kLong);
  const int64_t n = static_cast<int64_t>(r.mask_object_ids.size());
  if (n == 0) {
    out.object_ids = at::zeros({0}, lopt);
    out.scores = at::zeros({0}, at::kFloat);
    out.boxes = at::zeros({0, 4}, at::kFloat);
    out.masks = at::zeros({0, video_height_, video_width_}, at::TensorOptions().dtype(at::kBool));
    return out;
  }
  std::vector<float> probs, tracker_probs;
  for (int64_t id : r.mask_object_ids) {
    auto s = r.scores.find(id);
    probs.push_back(s == r.scores.end() ? 0.0f : static_cast<float>(s->second));
    auto t = r.tracker_scores.find(id);
    tracker_probs.push_back(t == r.tracker_scores.end() ? 0.0f : static_cast<float>(t->second));
  }
  const at::Tensor video = at::upsample_bilinear2d(r.masks.unsqueeze(1).to(at::kFloat), {video_height_, video_width_},
                                                   /*align_corners=*/false)
                               .squeeze(1)
                               .gt(0);  // [n, H, W]
  const at::Tensor nonempty = video.flatten(1).any(1).cpu();
  std::vector<int64_t> keep;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t id = r.mask_object_ids[k];
    if (nonempty[k].item<bool>() && !r.suppressed_object_ids.count(id) && !hotstart_removed_.count(id))
      keep.push_back(k);
  }
  std::vector<int64_t> ids;
  std::vector<float> kept_probs, kept_tracker;
  for (int64_t k : keep) {
    ids.push_back(r.mask_object_ids[k]);
    kept_probs.push_back(probs[k]);
    kept_tracker.push_back(tracker_probs[k]);
    out.prompt_ids.push_back(prompt_of(r.mask_object_ids[k]));
  }
  out.object_ids = at::tensor(ids, lopt);
  out.scores = at::tensor(kept_probs, at::TensorOptions().dtype(at::kFloat));
  at::Tensor masks = video.index_select(0, long_tensor(keep, video.device()));
  out.boxes = keep.empty() ? at::zeros({0, 4}, at::kFloat) : masks_to_boxes(masks).cpu();
  if (masks.size(0) > 1) {
    masks =
        object_wise_non_overlap(masks, at::tensor(kept_tracker, at::TensorOptions().dtype(at::kFloat)), out.prompt_ids);
  }
  out.masks = masks;
  return out;
}

void TextVideoSession::propagate(
    const std::function<at::Tensor(int64_t)>& frames,
    const std::function<void(const TextVideoFrameResult&, const TextVideoObjects&)>& on_frame, int64_t start,
    int64_t max_frames, bool reverse, const std::function<void(int64_t, const TextVideoTrace&)>& on_trace) {
  SAM3RT_CHECK(num_frames_ > 0, kInvalidArgument, "propagation needs the video's length (not streaming)");
  SAM3RT_CHECK(start >= 0 && start < num_frames_, kInvalidArgument, "start frame ", start, " is outside the video (",
               num_frames_, " frames)");
  if (max_frames < 0) max_frames = num_frames_;
  std::vector<int64_t> order;
  int64_t end = 0;
  if (reverse) {
    end = std::max<int64_t>(start - max_frames, 0);
    for (int64_t i = start - 1; i >= end; --i) order.push_back(i);
  } else {
    end = std::min(start + max_frames, num_frames_ - 1);
    for (int64_t i = start; i <= end; ++i) order.push_back(i);
  }
  auto emit = [&](const TextVideoFrameResult& r) { on_frame(r, postprocess(r)); };
  std::deque<TextVideoFrameResult> buffer;
  TextVideoTrace trace;
  for (int64_t i : order) {
    TextVideoFrameResult r = track(i, frames(i), reverse, on_trace ? &trace : nullptr);
    if (on_trace) on_trace(i, trace);
    if (c_.hotstart_delay <= 0) {
      emit(r);
      continue;
    }
    hotstart_removed_.insert(r.removed_object_ids.begin(), r.removed_object_ids.end());
    buffer.push_back(std::move(r));
    if (i == end) {
      while (!buffer.empty()) {
        emit(buffer.front());
        buffer.pop_front();
      }
    } else if (static_cast<int64_t>(buffer.size()) >= c_.hotstart_delay) {
      emit(buffer.front());
      buffer.pop_front();
    }
  }
}

}  // namespace sam3rt::models
