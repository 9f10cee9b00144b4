// sam3rt precision-gate: the accuracy gate for a faster precision or another device
// (developer/developer.h, run_precision_gate). Prints one line per comparison and
// part; exit status 1 when any fails, or when nothing was compared (no evidence is no
// pass).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "developer.h"

namespace sam3rt::cli {

namespace {

struct GateArgs {
  developer::GateOptions options;
  std::string json_path;
};

int run_gate(const GateArgs& args) {
  const developer::GateOptions& a = args.options;
  const auto tallies = developer::run_precision_gate(a, [](const std::string& path) {
    std::printf("%s done\n", path.c_str());
    std::fflush(stdout);
  });
  bool all_ok = true;
  nlohmann::json report = nlohmann::json::array();
  for (const auto& t : tallies) {
    const bool ok = t.ok(a);
    all_ok = all_ok && ok;
    std::printf("%s | %s: %lld masks (%lld empty in both), mask IoU mean %.5f, worst %.5f (%s), >= 0.99: %lld/%lld; "
                "largest score difference %.5f  %s\n",
                t.comparison.c_str(), t.part.c_str(), static_cast<long long>(t.masks),
                static_cast<long long>(t.empty_both), t.mean_iou(), t.worst_iou, t.worst_where.c_str(),
                static_cast<long long>(t.at_least_099), static_cast<long long>(t.masks), t.worst_score_diff,
                ok ? "ok" : "FAIL");
    report.push_back({{"comparison", t.comparison}, {"part", t.part}, {"masks", t.masks},
                      {"empty_in_both", t.empty_both}, {"mean_iou", t.mean_iou()}, {"worst_iou", t.worst_iou},
                      {"worst_where", t.worst_where}, {"iou_at_least_0_99", t.at_least_099},
                      {"max_score_diff", t.worst_score_diff}, {"ok", ok}});
  }
  if (!args.json_path.empty()) {
    std::ofstream f(args.json_path);
    f << nlohmann::json{{"thresholds",
                         {{"min_mean_iou", a.min_mean_iou}, {"min_iou", a.min_iou}, {"max_score_diff", a.max_score_diff}}},
                        {"images", a.images},
                        {"texts", a.texts},
                        {"results", report}}
                .dump(1)
      << "\n";
  }
  if (tallies.empty()) {
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
  auto args = std::make_shared<GateArgs>();
  developer::GateOptions& a = args->options;
  cmd->add_option("--model", a.model, "model folder")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--image", a.images, "image file (repeatable)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--text", a.texts, "text prompt for the detector (repeatable)");
  cmd->add_option("--device", a.device, "cpu, cuda or cuda:N: where both precisions run");
  cmd->add_option("--reference-device", a.reference_device, "also compare fp32 on --device with fp32 here (e.g. cpu)");
  cmd->add_option("--clicks", a.clicks, "tracker: a grid of N x N single clicks per image (0: none; default 3)")
      ->check(CLI::Range(0, 16));
  cmd->add_option("--threads", a.threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-mean-iou", a.min_mean_iou, "mean mask IoU needed (default 0.99)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-iou", a.min_iou, "worst mask IoU allowed (default 0.98)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-score-diff", a.max_score_diff, "largest score difference (default 0.01)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--score-threshold", a.score_threshold,
                  "detector: check only queries scoring at least this in either run (default 0: every query)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--json", args->json_path, "write the figures as JSON here");
  cmd->callback([&exit_code, args] { exit_code = run_gate(*args); });
}

}  // namespace sam3rt::cli
