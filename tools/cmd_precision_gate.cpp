// sam3rt precision-gate: the accuracy gate for a faster precision or another device.
//
// Runs each image through two loaded copies of the model and compares them query by
// query: bf16 against fp32 on --device, and, with --reference-device, fp32 on --device
// against fp32 on the reference device (e.g. the GPU against the CPU).
//   - Concept detector: every one of the detector's queries (200 for facebook/sam3) for
//     each text, not only those scoring above a threshold (random weights score nothing
//     high, which would leave nothing to check): the mask at the image's resolution
//     (logits > 0) and the score sigmoid(logit) * sigmoid(presence).
//   - Tracker: a grid of single clicks, each giving three candidate masks: the masks,
//     their predicted IoU and the object score.
// A comparison passes when the mean mask IoU >= --min-mean-iou (0.99), the worst >=
// --min-iou (0.98) and every score differs by <= --max-score-diff (0.01). Exit status 1
// when any comparison fails, or when nothing was compared (no evidence is no pass).
#include <CLI/CLI.hpp>

#include <ATen/ops/logical_and.h>
#include <ATen/ops/logical_or.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/where.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "io/image.h"
#include "models/sam3/detector.h"
#include "pipeline/model_impl.h"
#include "pipeline/postprocess.h"
#include "pipeline/preprocess.h"
#include "sam3rt/sam3rt.h"

namespace sam3rt::cli {

namespace {

struct GateArgs {
  std::string model, device = "cpu", reference_device;
  std::vector<std::string> images, texts;
  double min_mean_iou = 0.99, min_iou = 0.98, max_score_diff = 0.01, score_threshold = 0.0;
  int clicks = 3;  // per side of the click grid
  int threads = 0;
  std::string json_path;
};

// Running figures of one comparison (one pair of runs, detector or tracker).
struct Tally {
  std::string name;
  int64_t masks = 0, at_least_099 = 0, empty_both = 0;
  double iou_sum = 0, worst_iou = 1, worst_score_diff = 0;
  std::string worst_where;

  // iou: [N] float64 on the CPU; labels[i] names mask i in messages.
  void add_ious(const at::Tensor& iou, const std::vector<std::string>& labels) {
    const auto a = iou.accessor<double, 1>();
    for (int64_t i = 0; i < iou.size(0); ++i) {
      ++masks;
      iou_sum += a[i];
      at_least_099 += a[i] >= 0.99 ? 1 : 0;
      if (a[i] < worst_iou) worst_iou = a[i], worst_where = labels.at(static_cast<size_t>(i));
    }
  }
  void add_score_diff(double d) { worst_score_diff = std::max(worst_score_diff, d); }
  double mean_iou() const { return masks ? iou_sum / static_cast<double>(masks) : 0.0; }
  bool ok(const GateArgs& a) const {
    return masks > 0 && mean_iou() >= a.min_mean_iou && worst_iou >= a.min_iou && worst_score_diff <= a.max_score_diff;
  }
};

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
  const auto& impl = model.impl();
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
void compare_detections(const Detection& a, const Detection& b, int64_t height, int64_t width, const GateArgs& args,
                        const std::string& where, Tally& t) {
  const at::Tensor keep = a.scores.ge(args.score_threshold).logical_or(b.scores.ge(args.score_threshold));
  const auto ka = keep.accessor<bool, 1>();
  std::vector<int64_t> queries;
  for (int64_t q = 0; q < keep.size(0); ++q) {
    if (ka[q]) queries.push_back(q);
  }
  const auto sa = a.scores.accessor<float, 1>(), sb = b.scores.accessor<float, 1>();
  for (int64_t q : queries) t.add_score_diff(std::fabs(static_cast<double>(sa[q]) - sb[q]));
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
    t.add_ious(pairwise_iou(masks(a), masks(b), &t.empty_both), labels);
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
                    Tally& t) {
  for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
    std::vector<at::Tensor> ma, mb;
    std::vector<std::string> labels;
    for (size_t c = 0; c < a[k].candidates.size() && c < b[k].candidates.size(); ++c) {
      labels.push_back(where + ", click " + std::to_string(k) + ", mask " + std::to_string(c));
      ma.push_back(a[k].candidates[c].mask);
      mb.push_back(b[k].candidates[c].mask);
      t.add_score_diff(std::fabs(static_cast<double>(a[k].candidates[c].iou) - b[k].candidates[c].iou));
      t.add_score_diff(
          std::fabs(static_cast<double>(a[k].candidates[c].object_score) - b[k].candidates[c].object_score));
    }
    if (!ma.empty()) {
      t.add_ious(pairwise_iou(at::stack(ma), at::stack(mb), &t.empty_both), labels);
    }
  }
}

std::shared_ptr<const Model> load(const GateArgs& a, const std::string& device, const std::string& precision) {
  ModelOptions mo;
  mo.model_dir = a.model;
  mo.device = device;
  mo.precision = precision;
  mo.num_threads = a.threads;
  return Model::load(mo);
}

int run_gate(const GateArgs& a) {
  struct Pair {
    std::string what;
    std::shared_ptr<const Model> x, y;  // y is checked against x
    Tally detector, tracker;
  };
  std::vector<Pair> pairs;
  const auto fp32 = load(a, a.device, "fp32");
  pairs.push_back({"bf16 vs fp32 on " + a.device, fp32, load(a, a.device, "bf16"), {}, {}});
  if (!a.reference_device.empty()) {
    pairs.push_back(
        {"fp32 on " + a.device + " vs fp32 on " + a.reference_device, load(a, a.reference_device, "fp32"), fp32, {}, {}});
  }
  for (Pair& p : pairs) {
    p.detector.name = "detector";
    p.tracker.name = "tracker";
  }
  const bool detector = fp32->can_segment_concepts(), tracker = fp32->can_segment_objects() && a.clicks > 0;
  for (const std::string& path : a.images) {
    const at::Tensor rgb = io::decode_image(path);
    const int64_t h = rgb.size(0), w = rgb.size(1);
    for (Pair& p : pairs) {
      for (const std::string& text : detector ? a.texts : std::vector<std::string>{}) {
        const Detection dx = detect_all(*p.x, rgb, text), dy = detect_all(*p.y, rgb, text);
        compare_detections(dx, dy, h, w, a, path + " | " + text, p.detector);
      }
      if (tracker) compare_clicks(click_grid(p.x, rgb, a.clicks), click_grid(p.y, rgb, a.clicks), path, p.tracker);
    }
    std::printf("%s: %lldx%lld done\n", path.c_str(), static_cast<long long>(w), static_cast<long long>(h));
    std::fflush(stdout);
  }

  bool all_ok = true, any = false;
  nlohmann::json report = nlohmann::json::array();
  for (const Pair& p : pairs) {
    for (const Tally* t : {&p.detector, &p.tracker}) {
      if (t->masks == 0) continue;
      any = true;
      const bool ok = t->ok(a);
      all_ok = all_ok && ok;
      std::printf("%s | %s: %lld masks (%lld empty in both), mask IoU mean %.5f, worst %.5f (%s), >= 0.99: %lld/%lld; "
                  "largest score difference %.5f  %s\n",
                  p.what.c_str(), t->name.c_str(), static_cast<long long>(t->masks),
                  static_cast<long long>(t->empty_both), t->mean_iou(), t->worst_iou, t->worst_where.c_str(),
                  static_cast<long long>(t->at_least_099), static_cast<long long>(t->masks), t->worst_score_diff,
                  ok ? "ok" : "FAIL");
      report.push_back({{"comparison", p.what},
                        {"part", t->name},
                        {"masks", t->masks},
                        {"empty_in_both", t->empty_both},
                        {"mean_iou", t->mean_iou()},
                        {"worst_iou", t->worst_iou},
                        {"worst_where", t->worst_where},
                        {"iou_at_least_0_99", t->at_least_099},
                        {"max_score_diff", t->worst_score_diff},
                        {"ok", ok}});
    }
  }
  if (!a.json_path.empty()) {
    std::ofstream f(a.json_path);
    f << nlohmann::json{{"thresholds",
                         {{"min_mean_iou", a.min_mean_iou}, {"min_iou", a.min_iou}, {"max_score_diff", a.max_score_diff}}},
                        {"images", a.images},
                        {"texts", a.texts},
                        {"results", report}}
                .dump(1)
      << "\n";
  }
  if (!any) {
    std::printf("precision gate: nothing was checked (no query reached --score-threshold %.3f and no clicks)\n",
                a.score_threshold);
    return 1;
  }
  std::printf("precision gate: %s (mean mask IoU >= %.3f, worst >= %.3f, score difference <= %.3f)\n",
              all_ok ? "PASS" : "FAIL", a.min_mean_iou, a.min_iou, a.max_score_diff);
  return all_ok ? 0 : 1;
}

}  // namespace

void add_precision_gate_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "precision-gate", "Check bf16 against fp32 (and a device against another): every query's mask and score");
  auto a = std::make_shared<GateArgs>();
  cmd->add_option("--model", a->model, "model folder")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--image", a->images, "image file (repeatable)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--text", a->texts, "text prompt for the detector (repeatable)");
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N: where both precisions run");
  cmd->add_option("--reference-device", a->reference_device,
                  "also compare fp32 on --device with fp32 here (e.g. cpu)");
  cmd->add_option("--clicks", a->clicks, "tracker: a grid of N x N single clicks per image (0: none; default 3)")
      ->check(CLI::Range(0, 16));
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-mean-iou", a->min_mean_iou, "mean mask IoU needed (default 0.99)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-iou", a->min_iou, "worst mask IoU allowed (default 0.98)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-score-diff", a->max_score_diff, "largest score difference (default 0.01)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--score-threshold", a->score_threshold,
                  "detector: check only queries scoring at least this in either run (default 0: every query)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--json", a->json_path, "write the figures as JSON here");
  cmd->callback([&exit_code, a] { exit_code = run_gate(*a); });
}

}  // namespace sam3rt::cli
