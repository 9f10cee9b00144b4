// sam3rt precision-gate: the bf16 accuracy gate (issue #6). Segments each image with each
// text prompt twice, with float32 and with bf16 products, and checks every instance the
// float32 run scores >= 0.5: the bf16 run must have an instance whose mask overlaps it
// with IoU >= 0.99 and whose score differs by <= 0.01. Exit status 1 when any fails, or
// when no instance reached the threshold (nothing checked is no evidence).
#include <CLI/CLI.hpp>

#include <ATen/ops/logical_and.h>
#include <ATen/ops/logical_or.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "io/image.h"
#include "sam3rt/sam3rt.h"

namespace sam3rt::cli {

namespace {

struct GateArgs {
  std::string model, device = "cpu";
  std::vector<std::string> images, texts;
  double min_iou = 0.99, max_score_diff = 0.01, score_threshold = 0.5;
  int threads = 0;
};

double mask_iou(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) return 0.0;
  const double inter = static_cast<double>(at::logical_and(a, b).sum().item<int64_t>());
  const double uni = static_cast<double>(at::logical_or(a, b).sum().item<int64_t>());
  return uni > 0 ? inter / uni : 1.0;
}

int run_gate(const GateArgs& a) {
  auto load = [&](const std::string& precision) {
    ModelOptions mo;
    mo.model_dir = a.model;
    mo.device = a.device;
    mo.precision = precision;
    mo.num_threads = a.threads;
    return Model::load(mo);
  };
  const auto fp32 = load("fp32");
  const auto bf16 = load("bf16");
  SegmentOptions strict;
  strict.score_threshold = static_cast<float>(a.score_threshold);
  SegmentOptions loose;  // bf16 instances just under the threshold still count as matches
  loose.score_threshold = static_cast<float>(std::max(0.0, a.score_threshold - a.max_score_diff));

  int checked = 0, failed = 0;
  double worst_iou = 1.0, worst_diff = 0.0;
  for (const std::string& path : a.images) {
    const at::Tensor rgb = io::decode_image(path);
    ImageSession s32(fp32), s16(bf16);
    s32.set_image(rgb);
    s16.set_image(rgb);
    for (const std::string& text : a.texts) {
      const SegmentResult r32 = s32.segment(ConceptPrompt{text, {}}, strict);
      const SegmentResult r16 = s16.segment(ConceptPrompt{text, {}}, loose);
      for (size_t i = 0; i < r32.instances.size(); ++i) {
        const Instance& x = r32.instances[i];
        double best_iou = 0.0, diff = 1.0;
        for (const Instance& y : r16.instances) {
          const double iou = mask_iou(x.mask, y.mask);
          if (iou > best_iou) best_iou = iou, diff = std::fabs(static_cast<double>(x.score) - y.score);
        }
        const bool ok = best_iou >= a.min_iou && diff <= a.max_score_diff;
        ++checked;
        failed += ok ? 0 : 1;
        worst_iou = std::min(worst_iou, best_iou);
        worst_diff = std::max(worst_diff, diff);
        std::printf("%s | %s | instance %zu: fp32 score %.4f, bf16 mask IoU %.5f, score diff %.5f  %s\n", path.c_str(),
                    text.c_str(), i, x.score, best_iou, diff, ok ? "ok" : "FAIL");
      }
      std::printf("%s | %s: %zu fp32 instances >= %.2f, %zu bf16 instances >= %.2f\n", path.c_str(), text.c_str(),
                  r32.instances.size(), a.score_threshold, r16.instances.size(), loose.score_threshold);
    }
  }
  std::printf("precision gate: %d/%d instances pass (mask IoU >= %.3f, score difference <= %.3f); worst IoU %.5f, "
              "worst score difference %.5f\n",
              checked - failed, checked, a.min_iou, a.max_score_diff, worst_iou, worst_diff);
  if (checked == 0) {
    std::printf("precision gate: no fp32 instance scored >= %.2f, so nothing was checked (lower --score-threshold)\n",
                a.score_threshold);
    return 1;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

void add_precision_gate_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("precision-gate", "Check bf16 against fp32: masks and scores of every instance");
  auto a = std::make_shared<GateArgs>();
  cmd->add_option("--model", a->model, "model folder")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--image", a->images, "image file (repeatable)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--text", a->texts, "text prompt (repeatable)")->required();
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N");
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-iou", a->min_iou, "mask IoU each instance needs (default 0.99)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-score-diff", a->max_score_diff, "largest score difference (default 0.01)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--score-threshold", a->score_threshold, "fp32 instances checked (default 0.5)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->callback([&exit_code, a] { exit_code = run_gate(*a); });
}

}  // namespace sam3rt::cli
