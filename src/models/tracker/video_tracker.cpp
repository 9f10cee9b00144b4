#include "models/tracker/video_tracker.h"

#include <ATen/ops/_upsample_bilinear2d_aa.h>
#include <ATen/ops/argmax.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/masked_select.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/upsample_bilinear2d.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "nn/position_encoding.h"
#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {

// Mask logits of an absent object (the reference's NO_OBJ_SCORE).
constexpr double kNoObjectScore = -1024.0;
// A mask prompt taken as output: logits = mask * 20 - 10.
constexpr double kMaskOutScale = 20.0;
constexpr double kMaskOutBias = -10.0;

const TrackerMemoryModules& memory_of(const TrackerModules& t) {
  SAM3RT_CHECK(t.memory.has_value(), kUnsupported,
               "this checkpoint's tracker has no memory modules; video tracking needs a sam3_video or sam2_video "
               "checkpoint");
  return *t.memory;
}

at::Tensor resize_aa(const at::Tensor& x, int64_t h, int64_t w) {
  if (x.size(-2) == h && x.size(-1) == w) return x;
  return at::_upsample_bilinear2d_aa(x, {h, w}, /*align_corners=*/false, c10::nullopt, c10::nullopt);
}

}  // namespace

VideoTracker::VideoTracker(const TrackerModules& tracker, const FrameEncoder& encoder, int64_t num_frames,
                           const VideoTrackerOptions& options)
    : t_(tracker),
      encoder_(encoder),
      mem_(memory_of(t_)),
      vc_(*tracker.config.video),
      num_frames_(num_frames),
      options_(options),
      device_(t_.no_memory_embedding.device()) {
  SAM3RT_CHECK(num_frames == -1 || num_frames > 0, kInvalidArgument, "a video needs at least one frame, got ",
               num_frames);
  SAM3RT_CHECK(vc_.num_maskmem > 0, kUnsupported, "num_maskmem must be positive, got ", vc_.num_maskmem);
  image_size_ = tracker.config.image_size;
  grid_ = t_.prompt_encoder.grid();
  history_radius_ = options.history_radius != 0
                        ? options.history_radius
                        : std::max<int64_t>({1, vc_.num_maskmem - 1, vc_.max_object_pointers_in_encoder - 1});
  const auto opts = t_.no_memory_embedding.options();
  const int64_t d = t_.no_memory_embedding.size(-1);
  vision_pos_ = nn::sine_position_grid(grid_, grid_, d, opts).flatten(2).transpose(1, 2).contiguous();  // [1, HW, d]
  memory_pos_grid_ =
      mem_.memory_encoder.position_encoding(grid_, opts).flatten(2).squeeze(0).transpose(0, 1).contiguous();  // [HW, mem]
}

VideoTracker::TrackedObject& VideoTracker::object(int64_t id) {
  for (TrackedObject& o : objects_) {
    if (o.id == id) return o;
  }
  objects_.emplace_back();
  objects_.back().id = id;
  return objects_.back();
}

void VideoTracker::check_frame(int64_t frame) const {
  SAM3RT_CHECK(frame >= 0 && (num_frames_ < 0 || frame < num_frames_), kInvalidArgument, "frame ", frame,
               " is outside the video (", num_frames_, " frames)");
}

void VideoTracker::add_points(int64_t object_id, int64_t frame, const at::Tensor& points, const at::Tensor& labels,
                              bool clear_old) {
  check_frame(frame);
  SAM3RT_CHECK(points.defined() && labels.defined() && points.dim() == 2 && points.size(1) == 2 &&
                   labels.dim() == 1 && labels.size(0) == points.size(0) && points.size(0) > 0,
               kInvalidArgument, "points must be [N, 2] with labels [N], N > 0");
  SAM3RT_CHECK(points.is_floating_point() && !labels.is_floating_point(), kInvalidArgument,
               "points must be floating point and labels integer");
  at::Tensor p = points.to(device_, at::kFloat).reshape({1, 1, -1, 2});
  at::Tensor l = labels.to(device_, at::kLong).reshape({1, 1, -1});
  TrackedObject& o = object(object_id);
  auto it = o.points.find(frame);
  if (!clear_old && it != o.points.end()) {
    p = at::cat({it->second.points, p}, 2);
    l = at::cat({it->second.labels, l}, 2);
  }
  o.points[frame] = {p, l};
  o.masks.erase(frame);
  o.pending = true;
}

void VideoTracker::add_box(int64_t object_id, int64_t frame, const at::Tensor& box, const at::Tensor& points,
                           const at::Tensor& labels) {
  SAM3RT_CHECK(box.defined() && box.numel() == 4 && box.is_floating_point(), kInvalidArgument,
               "a box must be 4 floats x1, y1, x2, y2");
  SAM3RT_CHECK(points.defined() == labels.defined(), kInvalidArgument, "points and labels must be given together");
  at::Tensor p = box.to(device_, at::kFloat).reshape({2, 2});
  at::Tensor l = at::tensor({2, 3}, at::TensorOptions().dtype(at::kLong)).to(device_);
  if (points.defined()) {
    SAM3RT_CHECK(points.dim() == 2 && points.size(1) == 2 && labels.dim() == 1 && labels.size(0) == points.size(0),
                 kInvalidArgument, "points must be [N, 2] with labels [N]");
    p = at::cat({p, points.to(device_, at::kFloat)}, 0);
    l = at::cat({l, labels.to(device_, at::kLong)}, 0);
  }
  add_points(object_id, frame, p, l, /*clear_old=*/true);
}

void VideoTracker::add_mask(int64_t object_id, int64_t frame, const at::Tensor& mask, bool binarize) {
  check_frame(frame);
  SAM3RT_CHECK(mask.defined() && mask.dim() == 2 && mask.size(0) > 0 && mask.size(1) > 0, kInvalidArgument,
               "a mask prompt must be [H, W]");
  at::Tensor m = mask.to(device_, at::kFloat).view({1, 1, mask.size(0), mask.size(1)});
  if (m.size(2) != image_size_ || m.size(3) != image_size_) {
    m = resize_aa(m, image_size_, image_size_);
    if (binarize) m = m.ge(0.5).to(at::kFloat);
  }
  TrackedObject& o = object(object_id);
  o.masks[frame] = m;
  o.points.erase(frame);
  o.pending = true;
}

std::vector<int64_t> VideoTracker::object_ids() const {
  std::vector<int64_t> ids;
  for (const TrackedObject& o : objects_) ids.push_back(o.id);
  return ids;
}

size_t VideoTracker::num_stored_memories() const {
  size_t n = 0;
  for (const TrackedObject& o : objects_) n += o.bank.conditioning().size() + o.bank.num_non_conditioning();
  return n;
}

void VideoTracker::reset() { objects_.clear(); }

void VideoTracker::remove_object(int64_t object_id) {
  objects_.erase(std::remove_if(objects_.begin(), objects_.end(),
                                [object_id](const TrackedObject& o) { return o.id == object_id; }),
                 objects_.end());
}

void VideoTracker::make_conditioning(int64_t object_id, int64_t frame, const at::Tensor& masks) {
  auto it =
      std::find_if(objects_.begin(), objects_.end(), [object_id](const TrackedObject& o) { return o.id == object_id; });
  SAM3RT_CHECK(it != objects_.end(), kInvalidArgument, "no object ", object_id);
  const MemoryBankEntry* tracked = it->bank.find(frame, false);
  if (tracked == nullptr && it->bank.find(frame, true) != nullptr) return;  // a conditioning frame already
  SAM3RT_CHECK(tracked != nullptr, kInvalidArgument, "object ", object_id, " has no tracked entry on frame ", frame);
  MemoryBankEntry entry = *tracked;
  entry.masks = masks;
  // The bank is rebuilt without the frame's non-conditioning entry (non-conditioning
  // entries only exist on frames marked tracked).
  ObjectMemoryBank bank;
  for (const auto& [t, e] : it->bank.conditioning()) bank.store(t, e, true);
  for (int64_t t = 0; t < static_cast<int64_t>(it->tracked.size()); ++t) {
    if (t == frame) continue;
    if (const MemoryBankEntry* e = it->bank.find(t, false)) bank.store(t, *e, false);
  }
  bank.store(frame, std::move(entry), true);
  it->bank = std::move(bank);
}

void VideoTracker::encode_memories(const VideoFrame& frame, const std::vector<int64_t>& object_ids,
                                   const at::Tensor& masks, const at::Tensor& object_score_logits, bool binarize,
                                   VideoTrackerTrace* trace) {
  const int64_t k = static_cast<int64_t>(object_ids.size());
  SAM3RT_CHECK(masks.defined() && masks.dim() == 4 && masks.size(0) == k && masks.size(1) == 1, kInvalidArgument,
               "memory masks must be [", k, ", 1, h, w], got ", masks.defined() ? masks.sizes() : at::IntArrayRef{});
  SAM3RT_CHECK(object_score_logits.defined() && object_score_logits.numel() == k, kInvalidArgument,
               "memory encoding needs one object score per object");
  if (k == 0) return;
  const int64_t fi = frame.index;
  std::vector<std::pair<size_t, bool>> targets;
  for (int64_t id : object_ids) {
    size_t i = 0;
    while (i < objects_.size() && objects_[i].id != id) ++i;
    SAM3RT_CHECK(i < objects_.size(), kInvalidArgument, "no object ", id);
    const bool cond = objects_[i].bank.find(fi, true) != nullptr;
    SAM3RT_CHECK(cond || objects_[i].bank.find(fi, false) != nullptr, kInvalidArgument, "object ", id,
                 " was not tracked on frame ", fi);
    targets.emplace_back(i, cond);
  }
  std::optional<TrackerImageFeatures> computed;
  const TrackerImageFeatures* f = frame.features;
  if (f == nullptr) {
    SAM3RT_CHECK(frame.pixel_values.defined(), kInvalidArgument, "frame ", fi, " has neither pixels nor features");
    at::Tensor px = frame.pixel_values.dim() == 3 ? frame.pixel_values.unsqueeze(0) : frame.pixel_values;
    computed = encode_tracker_image(t_, encoder_, px.to(device_, t_.no_memory_embedding.scalar_type()));
    f = &*computed;
  }
  encode_frame_memories(fi, *f, targets, masks.to(device_), object_score_logits.to(device_).reshape({k, 1}),
                        std::vector<bool>(k, binarize), std::vector<bool>(k, false), trace);
}

void VideoTracker::encode_frame_memories(int64_t fi, const TrackerImageFeatures& f,
                                         const std::vector<std::pair<size_t, bool>>& targets, const at::Tensor& masks,
                                         const at::Tensor& scores, const std::vector<bool>& binarize,
                                         const std::vector<bool>& exact, VideoTrackerTrace* trace) {
  const int64_t k = static_cast<int64_t>(targets.size());
  const int64_t side = 4 * 4 * grid_;  // mask_input_size * 4
  at::Tensor high = resize_aa(masks, side, side);  // [k, 1, 16G, 16G]
  at::Tensor mask_for_mem;
  const bool uniform = std::all_of(binarize.begin(), binarize.end(), [&](bool b) { return b == binarize[0]; });
  if (uniform && !(binarize[0] && options_.reference_memory_mask_logits)) {
    mask_for_mem = binarize[0] ? high.gt(0).to(high.scalar_type()) : at::sigmoid(high);
  } else {
    std::vector<at::Tensor> parts;
    for (int64_t j = 0; j < k; ++j) {
      at::Tensor h = high.slice(0, j, j + 1);
      if (!binarize[j]) {
        parts.push_back(at::sigmoid(h));
        continue;
      }
      at::Tensor binary = h.gt(0);
      const int64_t id = objects_[targets[static_cast<size_t>(j)].first].id;
      const at::Tensor ref = options_.reference_memory_mask_logits && !exact[static_cast<size_t>(j)]
                                 ? options_.reference_memory_mask_logits(fi, id)
                                 : at::Tensor();
      if (ref.defined()) {
        // The reference's low-resolution logits through the same two resizes as ours.
        const at::Tensor r = ref.to(h.options()).view({1, 1, ref.size(-2), ref.size(-1)});
        const at::Tensor ref_binary =
            resize_aa(at::upsample_bilinear2d(r, {image_size_, image_size_}, /*align_corners=*/false), side, side)
                .gt(0);
        const at::Tensor flipped = ref_binary.ne(binary);
        const int64_t n = flipped.sum().item<int64_t>();
        if (trace) {
          const float largest = n > 0 ? h.abs().masked_select(flipped).max().item<float>() : 0.0f;
          trace->memory_mask_flips.push_back({id, n, largest});
        }
        binary = ref_binary;
      }
      parts.push_back(binary.to(h.scalar_type()));
    }
    mask_for_mem = at::cat(parts, 0);
  }
  mask_for_mem = mask_for_mem.mul(vc_.sigmoid_scale_for_mem_enc).add(vc_.sigmoid_bias_for_mem_enc);
  const at::Tensor& level = f.levels[2];
  at::Tensor features = mem_.memory_encoder.forward(level.expand({k, -1, -1, -1}), mask_for_mem);  // [k, mem, G, G]
  if (trace) {
    trace->memory_features = features;
    trace->memory_pos = memory_pos_grid_.transpose(0, 1).reshape({1, -1, grid_, grid_}).expand({k, -1, -1, -1});
  }
  if (options_.reference_memory_features) {
    // Verification: the memory is stored in bf16, so ours and the reference's features,
    // equal to within float rounding, can still round to different bf16 values; where
    // they are that close, the reference's are stored and the difference is counted.
    const at::Tensor ref = options_.reference_memory_features(fi);
    if (ref.defined() && ref.sizes() == features.sizes()) {
      const at::Tensor r = ref.to(features.options());
      const double scale = r.abs().max().item<double>();
      const double diff = features.sub(r).abs().max().item<double>();
      if (diff <= 1e-4 * scale) {
        if (trace) {
          trace->memory_rounding_flips =
              features.to(at::kBFloat16).ne(r.to(at::kBFloat16)).sum().item<int64_t>();
        }
        features = r;
      }
    }
  }
  if (mem_.occlusion_spatial_embedding.defined()) {
    const at::Tensor absent = scores.reshape({k, 1, 1, 1}).le(0).to(features.scalar_type());
    features = features.add(absent.mul(mem_.occlusion_spatial_embedding.view({1, -1, 1, 1})));
  }
  at::Tensor stored = features.to(at::kBFloat16).flatten(2).transpose(1, 2);  // [k, HW, mem]
  for (int64_t j = 0; j < k; ++j) {
    TrackedObject& o = objects_[targets[j].first];
    o.bank.find(fi, targets[j].second)->features = stored.select(0, j).contiguous();
  }
}

VideoTracker::StepOutput VideoTracker::finish_decoder_output(const TrackerPrediction& p, bool multimask,
                                                             VideoTrackerTrace::ObjectStep* trace) const {
  // p.masks [1, 1, M, 4G, 4G], iou [1, 1, M], object score [1, 1, 1], tokens [1, 1, M, d].
  const at::Tensor appearing = p.object_score_logits.gt(0);  // [1, 1, 1]
  at::Tensor masks = p.masks.masked_fill(appearing.logical_not().view({1, 1, 1, 1, 1}), kNoObjectScore);
  // With multimask output the highest predicted IoU wins (mask and token); otherwise slot 0.
  const at::Tensor best = multimask ? p.iou_scores.argmax(-1).view({1}) : at::zeros({1}, p.iou_scores.options().dtype(at::kLong));
  StepOutput out;
  out.entry.masks = masks.index_select(2, best).select(2, 0);  // [1, 1, 4G, 4G]
  out.high_res = at::upsample_bilinear2d(out.entry.masks, {image_size_, image_size_}, /*align_corners=*/false);
  at::Tensor pointer = mem_.object_pointer_proj.forward(p.sam_tokens.index_select(2, best).select(2, 0));  // [1, 1, d]
  if (trace) trace->object_pointer_proj = pointer;
  const at::Tensor lambda = appearing.to(pointer.scalar_type());  // [1, 1, 1]
  pointer = pointer.mul(lambda).add(mem_.no_object_pointer.mul(lambda.neg().add(1)));
  out.entry.object_pointer = pointer.reshape({1, -1});  // [1, d]
  out.entry.object_score_logits = p.object_score_logits.reshape({1, 1});
  return out;
}

at::Tensor VideoTracker::memory_conditioned(const TrackedObject& obj, int64_t frame, bool reverse,
                                            const TrackerImageFeatures& f, VideoTrackerTrace::ObjectStep* trace) const {
  const at::Tensor& level = f.levels[2];  // [1, d, G, G]
  const int64_t d = level.size(1);
  const MemorySelection sel =
      obj.bank.select(frame, reverse, num_frames_, vc_, options_.pointers_from_all_conditioning_frames);
  const MemoryInputs mi = assemble_memory(mem_, vc_, sel, memory_pos_grid_);
  at::Tensor current = level.flatten(2).transpose(1, 2);  // [1, HW, d]
  at::Tensor out = mem_.memory_attention.forward(current, vision_pos_, mi.memory, mi.memory_pos,
                                                 mi.num_object_pointer_tokens);  // [1, HW, d]
  if (trace) trace->memory_attention = out;
  return out.transpose(1, 2).reshape({1, d, grid_, grid_});
}

VideoTracker::StepOutput VideoTracker::mask_as_output(const at::Tensor& mask, const TrackerImageFeatures& f,
                                                      VideoTrackerTrace::ObjectStep* trace) const {
  // mask [1, 1, S, S] 0/1: logits at S, antialiased down to the decoder's 4G.
  StepOutput out;
  out.high_res = mask.mul(kMaskOutScale).add(kMaskOutBias);
  out.from_mask_prompt = true;
  out.entry.masks = resize_aa(out.high_res, 4 * grid_, 4 * grid_);
  // The object pointer comes from the decoder on the raw level-G features with the mask
  // (through mask_downsample) as the dense prompt and no points; multimask output.
  TrackerImageFeatures g = f;
  g.image_embedding = f.levels[2];
  TrackerPrompts prompts;
  prompts.mask_input = mem_.mask_downsample.forward(mask);
  TrackerPredictTrace* pt = trace ? &trace->prompts : nullptr;
  const TrackerPrediction p = predict_tracker(t_, g, prompts, /*multimask=*/true, pt);
  if (trace) trace->decoder = p;
  StepOutput dec = finish_decoder_output(p, /*multimask=*/true, trace);
  // Presence from the mask itself.
  const at::Tensor lambda = mask.flatten(1).gt(0).any(1).to(mask.scalar_type()).view({1, 1});  // [1, 1]
  out.entry.object_score_logits = lambda.mul(kMaskOutScale).add(kMaskOutBias);
  out.entry.object_pointer = dec.entry.object_pointer.mul(lambda).add(mem_.no_object_pointer.mul(lambda.neg().add(1)));
  return out;
}

VideoTracker::StepOutput VideoTracker::run_frame(TrackedObject& obj, int64_t frame, bool init_cond,
                                                 const PointInputs* points, const at::Tensor* mask, bool reverse,
                                                 const TrackerImageFeatures& f,
                                                 VideoTrackerTrace::ObjectStep* trace) const {
  if (mask != nullptr) {
    if (trace) trace->mask_input = true;
    return mask_as_output(*mask, f, trace);
  }
  TrackerImageFeatures g = f;
  if (init_cond) {
    const int64_t d = f.levels[2].size(1);
    g.image_embedding = f.levels[2].add(t_.no_memory_embedding.view({1, d, 1, 1}));
  } else {
    g.image_embedding = memory_conditioned(obj, frame, reverse, f, trace);
  }
  TrackerPrompts prompts;
  int64_t num_points = 0;
  if (points != nullptr) {
    prompts.points = points->points;
    prompts.labels = points->labels;
    num_points = points->labels.size(2);
  }
  const bool multimask = vc_.multimask_output_in_sam && (init_cond || vc_.multimask_output_for_tracking) &&
                         vc_.multimask_min_pt_num <= num_points && num_points <= vc_.multimask_max_pt_num;
  TrackerPredictTrace* pt = trace ? &trace->prompts : nullptr;
  const TrackerPrediction p = predict_tracker(t_, g, prompts, multimask, pt);
  if (trace) trace->decoder = p;
  return finish_decoder_output(p, multimask, trace);
}

VideoFrameResult VideoTracker::track(const VideoFrame& frame, bool reverse, VideoTrackerTrace* trace,
                                     bool encode_memory) {
  SAM3RT_CHECK(!objects_.empty(), kInvalidArgument, "no objects to track: add prompts first");
  const int64_t fi = frame.index;
  check_frame(fi);
  if (trace) *trace = VideoTrackerTrace{};

  // The frame's features, computed on first use (inputs checked before any state changes).
  at::Tensor px;
  if (frame.features == nullptr) {
    SAM3RT_CHECK(frame.pixel_values.defined(), kInvalidArgument, "frame ", fi, " has neither pixels nor features");
    px = frame.pixel_values.dim() == 3 ? frame.pixel_values.unsqueeze(0) : frame.pixel_values;
    SAM3RT_CHECK(px.dim() == 4 && px.size(0) == 1 && px.size(1) == 3 && px.size(2) == image_size_ &&
                     px.size(3) == image_size_,
                 kInvalidArgument, "frame pixels must be [1, 3, ", image_size_, ", ", image_size_, "], got ",
                 frame.pixel_values.sizes());
  }
  std::optional<TrackerImageFeatures> features;
  auto feats = [&]() -> const TrackerImageFeatures& {
    if (frame.features != nullptr) return *frame.features;
    if (!features) features = encode_tracker_image(t_, encoder_, px.to(device_, t_.no_memory_embedding.scalar_type()));
    return *features;
  };

  const size_t n = objects_.size();
  std::vector<at::Tensor> masks(n), scores(n);
  std::vector<size_t> encode;  // objects whose memory is encoded on this frame
  std::vector<at::Tensor> encode_masks, encode_scores;
  std::vector<bool> encode_prompted, encode_cond, encode_exact;
  bool rev = reverse;  // as in transformers, an initial conditioning frame resets it for the objects after it
  for (size_t i = 0; i < n; ++i) {
    TrackedObject& o = objects_[i];
    const MemoryBankEntry* cond = o.bank.find(fi, true);
    bool init_cond = false;
    if (!o.pending && cond != nullptr) {  // a conditioning frame met again: its stored result
      masks[i] = cond->masks;
      scores[i] = cond->object_score_logits.reshape({1});
      init_cond = true;
    } else {
      const PointInputs* points = nullptr;
      const at::Tensor* mask = nullptr;
      if (o.pending) {
        auto pit = o.points.find(fi);
        if (pit != o.points.end()) points = &pit->second;
        auto mit = o.masks.find(fi);
        if (mit != o.masks.end()) mask = &mit->second;
      }
      if (points != nullptr || mask != nullptr) {
        // Prompts on a frame never tracked make it a conditioning frame; on a tracked frame
        // they are a correction.
        init_cond = !(fi < static_cast<int64_t>(o.tracked.size()) && o.tracked[fi]);
        if (init_cond) rev = false;
      } else if (!o.bank.has_conditioning()) {
        // Prompted only on frames not reached yet: absent here (transformers would make this
        // frame a prompt-less conditioning frame).
        masks[i] = at::full({1, 1, 4 * grid_, 4 * grid_}, kNoObjectScore, t_.no_memory_embedding.options());
        scores[i] = at::full({1}, kNoObjectScore, t_.no_memory_embedding.options());
        continue;
      }
      VideoTrackerTrace::ObjectStep* step = nullptr;
      if (trace) {
        trace->objects.emplace_back();
        step = &trace->objects.back();
        step->object_id = o.id;
        step->conditioning = init_cond;
      }
      StepOutput out = run_frame(o, fi, init_cond, points, mask, rev, feats(), step);
      if (points != nullptr || mask != nullptr) o.pending = false;
      masks[i] = out.entry.masks;
      scores[i] = out.entry.object_score_logits.reshape({1});
      encode.push_back(i);
      encode_masks.push_back(out.high_res);
      encode_scores.push_back(out.entry.object_score_logits);
      encode_prompted.push_back(points != nullptr || mask != nullptr);
      encode_exact.push_back(out.from_mask_prompt);
      encode_cond.push_back(init_cond);
      if (!init_cond) out.entry.masks = at::Tensor();  // only conditioning frames are returned again
      o.bank.store(fi, std::move(out.entry), init_cond);
    }
    if (!init_cond) {
      if (static_cast<int64_t>(o.tracked.size()) <= fi) o.tracked.resize(fi + 1, false);
      o.tracked[fi] = true;
    }
  }

  // Memory encoding, batched over the objects that ran.
  if (encode_memory && !encode.empty()) {
    const bool any_prompted = std::any_of(encode_prompted.begin(), encode_prompted.end(), [](bool b) { return b; });
    std::vector<std::pair<size_t, bool>> targets;
    std::vector<bool> binarize;
    for (size_t j = 0; j < encode.size(); ++j) {
      targets.emplace_back(encode[j], encode_cond[j]);
      binarize.push_back(options_.binarize_memory_masks_of_all_objects ? any_prompted : encode_prompted[j]);
    }
    encode_frame_memories(fi, feats(), targets, at::cat(encode_masks, 0), at::cat(encode_scores, 0), binarize,
                          encode_exact, trace);
  }

  for (TrackedObject& o : objects_) o.bank.trim(fi, history_radius_);

  VideoFrameResult r;
  r.frame = fi;
  r.object_ids = object_ids();
  r.masks = at::cat(masks, 0);
  r.object_score_logits = at::cat(scores, 0);
  return r;
}

void VideoTracker::propagate(const std::function<VideoFrame(int64_t)>& frames,
                             const std::function<void(const VideoFrameResult&)>& on_frame, int64_t start,
                             int64_t max_frames, bool reverse) {
  SAM3RT_CHECK(num_frames_ > 0, kInvalidArgument, "propagation needs the video's length (not streaming)");
  if (start < 0) {
    for (const TrackedObject& o : objects_) {
      for (const auto& [t, e] : o.bank.conditioning()) start = start < 0 ? t : std::min(start, t);
    }
    SAM3RT_CHECK(start >= 0, kInvalidArgument, "nothing to propagate from: track a prompted frame first");
  }
  check_frame(start);
  if (max_frames < 0) max_frames = num_frames_;
  auto step = [&](int64_t i) {
    VideoFrame f = frames(i);
    f.index = i;
    on_frame(track(f, reverse));
  };
  if (reverse) {
    const int64_t end = std::max<int64_t>(start - max_frames, 0);
    if (start > 0) {
      for (int64_t i = start; i >= end; --i) step(i);
    }
  } else {
    const int64_t end = std::min(start + max_frames, num_frames_ - 1);
    for (int64_t i = start; i <= end; ++i) step(i);
  }
}

}  // namespace sam3rt::models
