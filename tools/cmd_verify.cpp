// sam3rt verify FIXTURE_DIR: parity against reference dumps.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "developer.h"

namespace sam3rt::cli {

void add_verify_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("verify", "Check sam3rt against a reference fixture folder (refgen output)");
  auto dir = std::make_shared<std::string>();
  auto vocab = std::make_shared<std::string>();
  auto tolerance = std::make_shared<double>(1e-4);
  auto abs_floor = std::make_shared<double>(0.0);
  auto precision = std::make_shared<std::string>("fp32");
  auto device = std::make_shared<std::string>("cpu");
  cmd->add_option("FIXTURE_DIR", *dir, "fixture folder, e.g. .../sam3-tiny-seed0/sam3_image")->required();
  cmd->add_option("--vocab", *vocab, "CLIP vocabulary for tokenizer fixtures (default: the bundled one)");
  auto* tol_opt = cmd->add_option("--tolerance", *tolerance,
                                  "relative L2 error allowed per tensor (default 1e-4; bf16: 0.1)")
                      ->check(CLI::PositiveNumber);
  auto* abs_opt = cmd->add_option("--abs-floor", *abs_floor,
                                  "a tensor whose largest difference is at most this passes whatever its relative "
                                  "error (default 0; bf16: 0.05)")
                      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--precision", *precision, "matrix products in fp32 or bf16 (norms, softmax, scores stay fp32)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--device", *device, "cpu, cuda or cuda:N: where the model is bound and run (CUDA: TF32 off)");
  cmd->callback([&exit_code, dir, vocab, tolerance, abs_floor, precision, device, tol_opt, abs_opt] {
    developer::VerifyOptions options;
    // bf16's stated tolerances (docs/performance.md, "Precision: bf16") unless given.
    const bool bf16 = *precision == "bf16";
    options.tolerance = bf16 && tol_opt->count() == 0 ? 0.1 : *tolerance;
    options.abs_floor = bf16 && abs_opt->count() == 0 ? 0.05 : *abs_floor;
    options.precision = *precision;
    options.device = *device;
    options.bpe_vocab_path = developer::find_bpe_vocab(*vocab);
    options.on_result = [](const developer::TensorComparison& c) {
      if (!c.shape_ok) {
        std::printf("%-60s shape mismatch  FAIL\n", c.name.c_str());
        return;
      }
      std::printf("%-60s max_abs %.3e  rel_l2 %.3e  %s\n", c.name.c_str(), c.max_abs, c.rel_l2,
                  c.ok() ? "ok" : (c.has_nan ? "FAIL (NaN/Inf)" : "FAIL"));
    };
    const developer::VerifyReport report = developer::verify_fixture(*dir, options);
    for (const auto& s : report.skipped) std::printf("skipped: %s\n", s.c_str());
    for (const auto& n : report.notes) std::printf("note: %s\n", n.c_str());
    std::printf("verify: %zu/%zu tensors within tolerance (worst rel-L2 %.3e; held to rel-L2 <= %g%s)\n",
                report.passed(), report.results.size(), report.worst_rel_l2(), options.tolerance,
                options.abs_floor > 0 ? (" or max_abs <= " + std::to_string(options.abs_floor)).c_str() : "");
    std::fflush(stdout);
    exit_code = report.ok() ? 0 : 1;
  });
}

}  // namespace sam3rt::cli
