// sam3rt precision-gate's engine (developer/developer.h): two loaded copies of a model,
// compared query by query on the same images.
#include <ATen/ops/logical_and.h>
#include <ATen/ops/logical_or.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/where.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/edge.h"
#include "developer/developer.h"
#include "models/sam3/detector.h"
#include "pipeline/model_impl.h"
#include "pipeline/postprocess.h"
#include "pipeline/preprocess.h"
#include "sam3rt/sam3rt.h"

namespace sam3rt::developer {

namespace {

// iou: [N] float64 on the CPU; labels[i] names mask i in messages.
void add_ious(GateTally& t, const at::Tensor& iou, const std::vector<std::string>& labels) {
  const auto a = iou.accessor<double, 1>();
  for (int64_t i = 0; i < iou.size(0); ++i) {
    ++t.masks;
    t.iou_sum += a[i];
    t.at_least_099 += a[i] >= 0.99 ? 1 : 0;
    if (a[i] < t.worst_iou) t.worst_iou = a[i], t.worst_where = labels.at(static_cast<size_t>(i));
  }
}

void add_score_diff(GateTally& t, double d) { t.worst_score_diff = std::max(t.worst_score_diff, d); }

// IoU of each pair of masks [N, H, W] bool (any devices; compared on x's); two empty
// masks agree fully.
at::Tensor pairwise_iou(const at::Tensor& x, const at::Tensor& y, int64_t* empty_both) {
  const at::Tensor yy = y.to(x.device());
  const at::Tensor inter = at::logical_and(x, yy).flatten(1).sum(1).to(at::kDouble);
  const at::Tensor uni = at::logical_or(x, yy).flatten(1).sum(1).to(at::kDouble);
  if (empty_both != nullptr) *empty_both += uni.eq(0).sum().item<int64_t>();
  return at::where(uni.gt(0), inter.div(uni.clamp_min(1.0)), at::ones_like(inter)).cpu();
}

// The detector's raw answer for one image and text: every query.
struct Detection {
  at::Tensor scores;       // [Q] float32, CPU: sigmoid(logit) * sigmoid(presence)
  at::Tensor mask_logits;  // [Q, h, w] on the model's device
};

Detection detect_all(const Model& model, const at::Tensor& rgb, const std::string& text) {
  const auto& impl = model_impl(model);
  const auto& m = *impl.modules;
  const at::Tensor pixels = pipeline::preprocess_image(rgb, model.image_size()).to(impl.placement.device);
  const models::DetectorImageFeatures f = models::encode_detector_image(m, pixels);
  const auto tf = impl.text_features(text);
  models::DetectorPrompt p;
  p.text = tf.features;
  p.text_valid = tf.valid;
  p.geometry_without_boxes = !impl.options.hf_text_only;
  const models::DetectorOutput out = models::detect(m, f, p);
  const at::Tensor presence = at::sigmoid(out.presence_logits.reshape({-1})[0].to(at::kFloat));
  return {at::sigmoid(out.pred_logits[0].to(at::kFloat)).mul(presence).cpu(), out.pred_masks[0]};
}

// Compares every query of two detections of the same image (masks at the image's size,
// upsampled in chunks to bound memory).
void compare_detections(const Detection& a, const Detection& b, int64_t height, int64_t width, const GateOptions& args,
                        const std::string& where, GateTally& t) {
  const at::Tensor keep = a.scores.ge(args.score_threshold).logical_or(b.scores.ge(args.score_threshold));
  const auto ka = keep.accessor<bool, 1>();
  std::vector<int64_t> queries;
  for (int64_t q = 0; q < keep.size(0); ++q) {
    if (ka[q]) queries.push_back(q);
  }
  const auto sa = a.scores.accessor<float, 1>(), sb = b.scores.accessor<float, 1>();
  for (int64_t q : queries) add_score_diff(t, std::fabs(static_cast<double>(sa[q]) - sb[q]));
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 28) / std::max<int64_t>(1, height * width));
  for (size_t s = 0; s < queries.size(); s += static_cast<size_t>(chunk)) {
    const size_t e = std::min(queries.size(), s + static_cast<size_t>(chunk));
    const std::vector<int64_t> ids(queries.begin() + static_cast<std::ptrdiff_t>(s),
                                   queries.begin() + static_cast<std::ptrdiff_t>(e));
    auto masks = [&](const Detection& d) {
      const at::Tensor index = at::tensor(ids, at::TensorOptions().dtype(at::kLong)).to(d.mask_logits.device());
      return pipeline::upsample_mask_logits(d.mask_logits.index_select(0, index), height, width).gt(0);
    };
    std::vector<std::string> labels;
    for (int64_t q : ids) labels.push_back(where + ", query " + std::to_string(q));
    add_ious(t, pairwise_iou(masks(a), masks(b), &t.empty_both), labels);
  }
}

// Every candidate of `clicks` x `clicks` single clicks on the image.
std::vector<ObjectResult> click_grid(const std::shared_ptr<const Model>& model, const at::Tensor& rgb, int clicks) {
  ImageSession s(model);
  s.set_image(rgb);
  std::vector<ObjectResult> out;
  const int64_t h = rgb.size(0), w = rgb.size(1);
  for (int i = 0; i < clicks; ++i) {
    for (int j = 0; j < clicks; ++j) {
      ObjectPrompt p;
      p.points = {{static_cast<float>(w) * (static_cast<float>(j) + 0.5f) / static_cast<float>(clicks),
                   static_cast<float>(h) * (static_cast<float>(i) + 0.5f) / static_cast<float>(clicks), true}};
      p.multimask = true;
      out.push_back(s.predict(p));
    }
  }
  return out;
}

void compare_clicks(const std::vector<ObjectResult>& a, const std::vector<ObjectResult>& b, const std::string& where,
                    GateTally& t) {
  for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
    std::vector<at::Tensor> ma, mb;
    std::vector<std::string> labels;
    for (size_t c = 0; c < a[k].candidates.size() && c < b[k].candidates.size(); ++c) {
      labels.push_back(where + ", click " + std::to_string(k) + ", mask " + std::to_string(c));
      ma.push_back(a[k].candidates[c].mask);
      mb.push_back(b[k].candidates[c].mask);
      add_score_diff(t, std::fabs(static_cast<double>(a[k].candidates[c].iou) - b[k].candidates[c].iou));
      add_score_diff(t, 
          std::fabs(static_cast<double>(a[k].candidates[c].object_score) - b[k].candidates[c].object_score));
    }
    if (!ma.empty()) {
      add_ious(t, pairwise_iou(at::stack(ma), at::stack(mb), &t.empty_both), labels);
    }
  }
}

std::shared_ptr<const Model> load(const GateOptions& a, const std::string& device, const std::string& precision) {
  ModelOptions mo;
  mo.model_dir = a.model;
  mo.device = device;
  mo.precision = precision;
  mo.num_threads = a.threads;
  return Model::load(mo);
}

}  // namespace

std::vector<GateTally> run_precision_gate(const GateOptions& a, const std::function<void(const std::string&)>& on_image) {
  return pipeline::at_edge([&] {
    struct Pair {
      std::shared_ptr<const Model> x, y;  // y is checked against x
      GateTally detector, tracker;
    };
    std::vector<Pair> pairs;
    const auto fp32 = load(a, a.device, "fp32");
    pairs.push_back({fp32, load(a, a.device, "bf16"), {}, {}});
    pairs.back().detector.comparison = pairs.back().tracker.comparison = "bf16 vs fp32 on " + a.device;
    if (!a.reference_device.empty()) {
      pairs.push_back({load(a, a.reference_device, "fp32"), fp32, {}, {}});
      pairs.back().detector.comparison = pairs.back().tracker.comparison =
          "fp32 on " + a.device + " vs fp32 on " + a.reference_device;
    }
    for (Pair& p : pairs) {
      p.detector.part = "detector";
      p.tracker.part = "tracker";
    }
    const bool detector = fp32->can_segment_concepts(), tracker = fp32->can_segment_objects() && a.clicks > 0;
    for (const std::string& path : a.images) {
      const at::Tensor rgb = decode_image(path);
      const int64_t h = rgb.size(0), w = rgb.size(1);
      for (Pair& p : pairs) {
        for (const std::string& text : detector ? a.texts : std::vector<std::string>{}) {
          const Detection dx = detect_all(*p.x, rgb, text), dy = detect_all(*p.y, rgb, text);
          compare_detections(dx, dy, h, w, a, path + " | " + text, p.detector);
        }
        if (tracker) compare_clicks(click_grid(p.x, rgb, a.clicks), click_grid(p.y, rgb, a.clicks), path, p.tracker);
      }
      if (on_image) on_image(path);
    }
    std::vector<GateTally> out;
    for (const Pair& p : pairs) {
      for (const GateTally* t : {&p.detector, &p.tracker}) {
        if (t->masks > 0) out.push_back(*t);
      }
    }
    return out;
  });
}

}  // namespace sam3rt::developer
