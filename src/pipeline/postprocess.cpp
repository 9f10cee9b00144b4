#include "pipeline/postprocess.h"

#include <ATen/ops/sigmoid.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/upsample_bilinear2d.h>

#include <algorithm>
#include <numeric>

#include "sam3rt/error.h"

namespace sam3rt::pipeline {

at::Tensor upsample_mask_logits(const at::Tensor& mask_logits, int64_t height, int64_t width) {
  if (mask_logits.size(0) == 0) return mask_logits.new_empty({0, height, width});
  return at::upsample_bilinear2d(mask_logits.unsqueeze(1).to(at::kFloat), {height, width}, /*align_corners=*/false)
      .squeeze(1);
}

Box mask_box(const at::Tensor& mask) {
  const at::Tensor cols = at::nonzero(mask.any(0)), rows = at::nonzero(mask.any(1));  // [K, 1]
  if (cols.size(0) == 0) return Box{};
  return Box{static_cast<float>(cols.min().item<int64_t>()), static_cast<float>(rows.min().item<int64_t>()),
             static_cast<float>(cols.max().item<int64_t>() + 1), static_cast<float>(rows.max().item<int64_t>() + 1),
             true};
}

std::vector<int64_t> mask_nms(const at::Tensor& masks, float iou_threshold) {
  const int64_t n = masks.size(0);
  std::vector<int64_t> keep;
  if (n == 0) return keep;
  at::Tensor flat = masks.reshape({n, -1}).to(at::kFloat);
  at::Tensor inter = at::matmul(flat, flat.t());             // [N, N]
  at::Tensor area = flat.sum(1);                             // [N]
  at::Tensor uni = area.unsqueeze(1).add(area.unsqueeze(0)).sub(inter);
  at::Tensor iou = inter.div(uni.clamp_min(1.0)).cpu();
  auto a = iou.accessor<float, 2>();
  std::vector<bool> removed(n, false);
  for (int64_t i = 0; i < n; ++i) {
    if (removed[i]) continue;
    keep.push_back(i);
    for (int64_t j = i + 1; j < n; ++j) {
      if (!removed[j] && a[i][j] > iou_threshold) removed[j] = true;
    }
  }
  return keep;
}

std::vector<Instance> postprocess_detections(const at::Tensor& logits, const at::Tensor& presence_logit,
                                             const at::Tensor& boxes, const at::Tensor& mask_logits, int64_t height,
                                             int64_t width, const std::string& prompt, const SegmentOptions& options) {
  const float presence = at::sigmoid(presence_logit.reshape({}).to(at::kFloat)).item<float>();
  at::Tensor scores = at::sigmoid(logits.to(at::kFloat)).mul(presence).cpu();
  const int64_t q = scores.size(0);
  std::vector<int64_t> order(q);
  std::iota(order.begin(), order.end(), 0);
  auto s = scores.accessor<float, 1>();
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
  std::vector<int64_t> selected;
  for (int64_t i : order) {
    if (s[i] > options.score_threshold) selected.push_back(i);
  }
  std::vector<Instance> out;
  if (selected.empty()) return out;
  // Without NMS the first max_instances are the answer: upsample only those.
  if (!options.nms && options.max_instances > 0 && static_cast<int64_t>(selected.size()) > options.max_instances) {
    selected.resize(options.max_instances);
  }

  at::Tensor index = at::tensor(selected, at::TensorOptions().dtype(at::kLong)).to(mask_logits.device());
  at::Tensor masks = upsample_mask_logits(mask_logits.index_select(0, index), height, width).gt(0).cpu();
  std::vector<int64_t> keep(selected.size());
  std::iota(keep.begin(), keep.end(), 0);
  if (options.nms) keep = mask_nms(masks, options.nms_iou);
  if (options.max_instances > 0 && static_cast<int64_t>(keep.size()) > options.max_instances) {
    keep.resize(options.max_instances);
  }
  at::Tensor b = boxes.to(at::kFloat).cpu();
  auto ba = b.accessor<float, 2>();
  for (int64_t k : keep) {
    const int64_t i = selected[k];
    Instance inst;
    inst.prompt = prompt;
    inst.score = s[i];
    inst.presence = presence;
    // Boxes are reported in pixels and clipped to the image (the model's may overhang).
    auto clip = [](float v, int64_t hi) { return std::min(std::max(v, 0.0f), static_cast<float>(hi)); };
    inst.box = Box{clip(ba[i][0] * width, width), clip(ba[i][1] * height, height), clip(ba[i][2] * width, width),
                   clip(ba[i][3] * height, height), true};
    inst.mask = masks[k].clone();
    inst.area = inst.mask.sum().item<int64_t>();
    out.push_back(std::move(inst));
  }
  return out;
}

}  // namespace sam3rt::pipeline
