#include "models/video/masklet_matching.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/argmax.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "nn/connected_components.h"
#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {

// Logits a suppressed object's mask is clamped to (sigmoid(-10) = 4.5e-5).
constexpr double kSuppressedLogit = -10.0;

std::vector<bool> to_bools(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kCPU, at::kBool).contiguous();
  const bool* p = c.data_ptr<bool>();
  return std::vector<bool>(p, p + c.numel());
}

std::vector<float> to_floats(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kCPU, at::kFloat).contiguous();
  const float* p = c.data_ptr<float>();
  return std::vector<float>(p, p + c.numel());
}

at::Tensor index_tensor(const std::vector<int64_t>& idx, const at::Device& device) {
  return at::tensor(idx, at::TensorOptions().dtype(at::kLong)).to(device);
}

// Indices of each prompt group, groups in ascending id order.
std::map<int64_t, std::vector<int64_t>> group_indices(const std::vector<int64_t>& groups) {
  std::map<int64_t, std::vector<int64_t>> out;
  for (size_t i = 0; i < groups.size(); ++i) out[groups[i]].push_back(static_cast<int64_t>(i));
  return out;
}

}  // namespace

at::Tensor mask_iou(const at::Tensor& a, const at::Tensor& b) {
  SAM3RT_CHECK(a.dim() == 3 && b.dim() == 3 && a.size(1) == b.size(1) && a.size(2) == b.size(2), kInvalidArgument,
               "mask IoU needs [N, H, W] and [M, H, W] masks, got ", a.sizes(), " and ", b.sizes());
  // Pixel counts are integers below 2^24, exact in float32 (the matmul sums integers).
  const at::Tensor fa = a.flatten(1).to(at::kFloat);  // [N, HW]
  const at::Tensor fb = b.flatten(1).to(at::kFloat);  // [M, HW]
  const at::Tensor inter = at::matmul(fa, fb.t());    // [N, M]
  const at::Tensor uni = fa.sum(1).unsqueeze(1).add(fb.sum(1).unsqueeze(0)).sub(inter);
  return inter.div(uni.clamp_min(1.0));
}

at::Tensor nms_detections(const at::Tensor& probs, const at::Tensor& masks, double prob_threshold,
                          double iou_threshold) {
  SAM3RT_CHECK(probs.dim() == 1 && masks.dim() == 3 && masks.size(0) == probs.size(0), kInvalidArgument,
               "detection NMS needs probs [Q] and masks [Q, H, W]");
  const at::Tensor valid = probs.gt(prob_threshold);  // [Q]
  const std::vector<bool> v = to_bools(valid);
  std::vector<int64_t> idx;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i]) idx.push_back(static_cast<int64_t>(i));
  }
  if (idx.empty()) return valid;
  const at::Tensor sel = index_tensor(idx, probs.device());
  const at::Tensor binary = masks.index_select(0, sel).gt(0);
  const std::vector<float> ious = to_floats(mask_iou(binary, binary));
  const std::vector<float> p = to_floats(probs.index_select(0, sel));
  const size_t n = idx.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return p[x] > p[y]; });
  const float thr = static_cast<float>(iou_threshold);
  std::vector<bool> removed(n, false), kept(n, false);
  for (size_t a = 0; a < n; ++a) {
    const size_t i = order[a];
    if (removed[i]) continue;
    kept[i] = true;
    for (size_t b = a + 1; b < n; ++b) {
      const size_t j = order[b];
      if (!removed[j] && ious[i * n + j] > thr) removed[j] = true;
    }
  }
  std::vector<bool> keep(v.size(), false);
  for (size_t k = 0; k < n; ++k) keep[idx[k]] = kept[k];
  std::vector<uint8_t> bytes(keep.begin(), keep.end());
  return at::tensor(bytes, at::TensorOptions().dtype(at::kByte)).to(at::kBool).to(probs.device());
}

at::Tensor fill_holes_in_mask_scores(const at::Tensor& masks, int64_t max_area, bool fill_holes,
                                     bool remove_sprinkles) {
  if (max_area <= 0) return masks;
  SAM3RT_CHECK(masks.dim() == 4 && masks.size(1) == 1, kInvalidArgument, "hole filling needs masks [N, 1, H, W], got ",
               masks.sizes());
  at::Tensor m = masks;
  if (fill_holes) {
    // Small background components (holes) become weak foreground.
    const at::Tensor bg = m.le(0);
    const at::Tensor areas = nn::connected_component_areas(bg);
    const at::Tensor small = bg.logical_and(areas.le(max_area));
    m = at::where(small, at::full_like(m, 0.1), m);
  }
  if (remove_sprinkles) {
    // Small foreground components (sprinkles) become weak background, unless they are at
    // least half of the object's area.
    const at::Tensor fg = m.gt(0);
    const at::Tensor thr = fg.sum({2, 3}, /*keepdim=*/true, at::kInt).div(2, "floor").clamp_max(max_area);
    const at::Tensor areas = nn::connected_component_areas(fg);
    const at::Tensor small = fg.logical_and(areas.le(thr));
    m = at::where(small, at::full_like(m, -0.1), m);
  }
  return m;
}

DetectionMatch match_detections(const at::Tensor& det_masks, const at::Tensor& det_scores,
                                const std::vector<int64_t>& det_prompts, const at::Tensor& trk_masks,
                                const std::vector<int64_t>& trk_object_ids, const std::vector<int64_t>& trk_prompts,
                                const VideoPipelineConfig& c) {
  const int64_t n = det_masks.size(0), m = trk_masks.size(0);
  SAM3RT_CHECK(det_scores.numel() == n && static_cast<int64_t>(det_prompts.size()) == n &&
                   static_cast<int64_t>(trk_object_ids.size()) == m && static_cast<int64_t>(trk_prompts.size()) == m,
               kInvalidArgument, "detection matching: inconsistent detection / track counts");
  DetectionMatch r;
  if (m == 0) {  // every detection is new (regardless of new_det_thresh)
    r.new_detections.resize(n);
    std::iota(r.new_detections.begin(), r.new_detections.end(), 0);
    return r;
  }
  const at::Tensor trk_binary = trk_masks.gt(0);
  const std::vector<bool> nonempty = to_bools(trk_binary.flatten(1).any(1));
  if (n == 0) {
    for (int64_t j = 0; j < m; ++j)
      (nonempty[j] ? r.unmatched_object_ids : r.empty_object_ids).push_back(trk_object_ids[j]);
    return r;
  }
  const std::vector<float> iou = to_floats(mask_iou(det_masks.gt(0), trk_binary));  // [n, m]
  auto iou_at = [&](int64_t i, int64_t j) { return det_prompts[i] == trk_prompts[j] ? iou[i * m + j] : 0.0f; };
  const std::vector<float> scores = to_floats(det_scores);
  const float assoc = static_cast<float>(c.assoc_iou_thresh), trk_assoc = static_cast<float>(c.trk_assoc_iou_thresh);
  const float new_det = static_cast<float>(c.new_det_thresh), high_conf = static_cast<float>(c.high_conf_thresh);
  const float high_iou = static_cast<float>(c.high_iou_thresh);

  for (int64_t j = 0; j < m; ++j) {
    bool matched = false;
    for (int64_t i = 0; i < n; ++i) matched = matched || iou_at(i, j) >= trk_assoc;
    if (!nonempty[j]) {
      r.empty_object_ids.push_back(trk_object_ids[j]);
    } else if (!matched) {
      r.unmatched_object_ids.push_back(trk_object_ids[j]);
    }
  }
  r.detection_object_ids.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    float best = -1.0f;
    int64_t best_j = 0;
    for (int64_t j = 0; j < m; ++j) {
      const float v = iou_at(i, j);
      if (v >= assoc) r.detection_object_ids[i].push_back(trk_object_ids[j]);
      if (v > best) {  // first maximum
        best = v;
        best_j = j;
      }
    }
    const bool is_new = scores[i] >= new_det && r.detection_object_ids[i].empty();
    if (is_new) r.new_detections.push_back(i);
    if (scores[i] >= high_conf && !is_new && best >= high_iou) {
      const int64_t id = trk_object_ids[best_j];
      auto it = std::find_if(r.high_confidence.begin(), r.high_confidence.end(),
                             [id](const std::pair<int64_t, int64_t>& p) { return p.first == id; });
      if (it == r.high_confidence.end()) {
        r.high_confidence.emplace_back(id, i);
      } else {
        it->second = i;
      }
    }
  }
  return r;
}

std::vector<bool> suppress_recently_occluded(const at::Tensor& binary_masks, const std::vector<int64_t>& last_occluded,
                                             double iou_threshold, bool reverse) {
  const int64_t n = binary_masks.size(0);
  SAM3RT_CHECK(static_cast<int64_t>(last_occluded.size()) == n, kInvalidArgument,
               "occlusion suppression: one last-occluded frame per mask");
  std::vector<bool> out(n, false);
  if (n <= 1) return out;
  const std::vector<float> iou = to_floats(mask_iou(binary_masks, binary_masks));
  const float thr = static_cast<float>(iou_threshold);
  auto later = [reverse](int64_t a, int64_t b) { return reverse ? a < b : a > b; };
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      if (!(iou[i * n + j] >= thr)) continue;
      const int64_t li = last_occluded[i], lj = last_occluded[j];
      if (later(li, lj) && lj > -1) out[i] = true;
      if (later(lj, li) && li > -1) out[j] = true;
    }
  }
  return out;
}

at::Tensor apply_pixel_non_overlap(const at::Tensor& masks) {
  const int64_t n = masks.size(0);
  if (n == 1) return masks;
  const at::Tensor winner = at::argmax(masks, 0, /*keepdim=*/true);  // [1, 1, H, W]
  const at::Tensor ids = at::arange(n, masks.options().dtype(at::kLong)).view({n, 1, 1, 1});
  return at::where(winner.eq(ids), masks, masks.clamp_max(kSuppressedLogit));
}

at::Tensor suppress_shrunk_masks(const at::Tensor& masks, const std::vector<int64_t>& groups, double shrink_threshold) {
  SAM3RT_CHECK(masks.dim() == 4 && masks.size(1) == 1 && static_cast<int64_t>(groups.size()) == masks.size(0),
               kInvalidArgument, "shrink suppression needs masks [N, 1, H, W] with one group per mask");
  at::Tensor out = masks.clone();
  for (const auto& [g, idx] : group_indices(groups)) {
    if (idx.size() <= 1) continue;
    const at::Tensor sel = index_tensor(idx, masks.device());
    const at::Tensor sub = masks.index_select(0, sel);
    const at::Tensor after = apply_pixel_non_overlap(sub);
    const at::Tensor area_before = sub.gt(0).sum({-1, -2}).clamp_min(1).to(at::kFloat);  // [k, 1]
    const at::Tensor area_after = after.gt(0).sum({-1, -2}).to(at::kFloat);
    const at::Tensor keep = area_after.div(area_before).ge(shrink_threshold).view({-1, 1, 1, 1});
    out.index_copy_(0, sel, at::where(keep, sub, sub.clamp_max(kSuppressedLogit)));
  }
  return out;
}

at::Tensor object_wise_non_overlap(const at::Tensor& masks, const at::Tensor& scores,
                                   const std::vector<int64_t>& groups) {
  SAM3RT_CHECK(
      masks.dim() == 3 && scores.numel() == masks.size(0) && static_cast<int64_t>(groups.size()) == masks.size(0),
      kInvalidArgument, "object-wise non-overlap needs masks [N, H, W], scores [N] and groups [N]");
  at::Tensor out = masks.to(at::kBool).clone();
  const at::Tensor s_all = scores.to(masks.device(), at::kFloat).reshape({-1, 1, 1});
  for (const auto& [g, idx] : group_indices(groups)) {
    const at::Tensor sel = index_tensor(idx, masks.device());
    const at::Tensor sub = out.index_select(0, sel);                                            // [k, H, W]
    at::Tensor s = at::where(sub, s_all.index_select(0, sel), at::zeros({}, s_all.options()));  // [k, H, W]
    if (idx.size() > 1) {
      const at::Tensor winner = at::argmax(s, 0, /*keepdim=*/true);
      const at::Tensor ids = at::arange(static_cast<int64_t>(idx.size()), sel.options()).view({-1, 1, 1});
      s = at::where(winner.eq(ids), s, s.clamp_max(kSuppressedLogit));
    }
    out.index_copy_(0, sel, sub.logical_and(s.gt(0)));
  }
  return out;
}

}  // namespace sam3rt::models
