// The sam3rt command line as a user runs it: exit codes, one-line errors, output files.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/image.h"
#include "nn/cpu/gemm.h"
#include "render/coco_rle.h"
#include "testing/cli.h"
#include "testing/fixture.h"
#include "sam3rt/version.h"

namespace sam3rt {
namespace {

namespace fs = std::filesystem;

using testing::CliRun;
using testing::count_lines;

using testing::run_cli;

std::string data(const std::string& rel) { return testing::data_path(rel); }

std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const auto p = t.rfind('\n');
  return p == std::string::npos ? t : t.substr(p + 1);
}

// The CLI, the C++ API and the build all give the project's version (once hard-coded as
// 0.1.0 in the CLI while the project was at 0.4.0).
TEST(CliVersion, IsTheProjectsVersion) {
  const CliRun r = run_cli("--version");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, std::string("sam3rt ") + SAM3RT_TEST_VERSION + "\n");
  EXPECT_STREQ(sam3rt::version(), SAM3RT_TEST_VERSION);
}

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sam3rt_cli_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    // A small random sam3_video model with the real CLIP vocabulary (assets/demo).
    const CliRun r = run_cli("make-random-checkpoint --config " + std::string(SAM3RT_TEST_DATA) +
                      "/../../assets/demo/config.json --out " + (dir_ / "model").string() + " --seed 3");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static fs::path dir_;
};
fs::path Cli::dir_;

TEST_F(Cli, InfoDescribesEveryLayout) {
  for (const char* m : {"sam3_image", "sam3_tracker", "sam3_video"}) {
    const CliRun r = run_cli("info " + data(std::string("sam3-tiny-seed0/") + m));
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("keys: all"), std::string::npos) << r.output;
  }
  const CliRun r = run_cli("info " + data("sam3-tiny-seed0/sam3_video"));
  EXPECT_NE(r.output.find("(sam3_video)"), std::string::npos);
  EXPECT_NE(r.output.find("671 tensors"), std::string::npos) << r.output;
}

// SAM 2 / 2.1 folders through every command a user runs on them.
TEST_F(Cli, Sam2FoldersWorkWithInfoVerifySegmentAndTrack) {
  CliRun r = run_cli("info " + data("sam2-baseplus-seed1/sam2_video"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("(sam2_video)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Hiera [2, 1, 2, 2] blocks per stage, widths [56, 72, 80, 88]"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("keys: all"), std::string::npos) << r.output;

  r = run_cli("verify " + data("sam2-tiny-seed0/sam2_tracker"));
  EXPECT_EQ(r.code, 0) << last_line(r.output);
  int passed = 0, total = 0;
  ASSERT_EQ(std::sscanf(last_line(r.output).c_str(), "verify: %d/%d", &passed, &total), 2);
  EXPECT_EQ(passed, total);
  EXPECT_GE(total, 120);

  const std::string image = data("images/oven.jpg");
  const fs::path out = dir_ / "sam2_segment";
  r = run_cli("segment --model " + data("sam2-tiny-seed0/sam2_video") + " --image " + image +
              " --point 20,20 --out " + out.string());
  EXPECT_EQ(r.code, 0) << r.output;
  std::ifstream in(out / "result.json");
  ASSERT_TRUE(in.good());
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j.at("model").get<std::string>(), "sam2_video");
  EXPECT_EQ(j.at("instances").size(), 3u);  // one click: three candidates

  r = run_cli("segment --model " + data("sam2-tiny-seed0/sam2_video") + " --image " + image + " --text cat --out " +
              (dir_ / "sam2_text").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(count_lines(r.output), 1u) << r.output;
  EXPECT_NE(r.output.find("model type sam2_video has no concept detector"), std::string::npos) << r.output;

  const fs::path tracked = dir_ / "sam2_track";
  r = run_cli("track --model " + data("sam2-tiny-seed0/sam2_video") + " --video " + data("video") +
              " --point 0:400,300 --box 0:100,100,300,400@2 --no-overlay --out " + tracked.string());
  EXPECT_EQ(r.code, 0) << r.output;
  std::ifstream tin(tracked / "tracks.json");
  ASSERT_TRUE(tin.good());
  const auto t = nlohmann::json::parse(tin);
  EXPECT_EQ(t.at("frames").size(), 4u);
}

TEST_F(Cli, InfoReportsBadInputOnOneLine) {
  const fs::path bad = dir_ / "bad";
  fs::create_directories(bad);
  fs::copy_file(data("sam3-tiny-seed0/sam3_image/config.json"), bad / "config.json",
                fs::copy_options::overwrite_existing);
  {  // truncated checkpoint
    std::ifstream in(data("sam3-tiny-seed0/sam3_image/model.safetensors"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(bad / "model.safetensors", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  CliRun r = run_cli("info " + bad.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(count_lines(r.output), 1u) << r.output;
  EXPECT_NE(r.output.find("truncated"), std::string::npos) << r.output;

  r = run_cli("info " + (dir_ / "missing").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("not a directory"), std::string::npos) << r.output;

  std::ofstream(bad / "config.json") << R"({"model_type": "sam4"})";
  r = run_cli("info " + bad.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("unknown model_type 'sam4'"), std::string::npos) << r.output;

  std::ofstream(bad / "config.json") << R"({"model_type": "sam3", "vision_config": {"fpn_hidden_size": "wide"}})";
  r = run_cli("info " + bad.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("vision_config.fpn_hidden_size' must be an integer"), std::string::npos) << r.output;
}

TEST_F(Cli, InfoListsKeyProblemsOfAMismatchedCheckpoint) {
  // The image checkpoint under the tracker's config: every key problem is listed.
  const fs::path mix = dir_ / "mix";
  fs::create_directories(mix);
  fs::copy_file(data("sam3-tiny-seed0/sam3_tracker/config.json"), mix / "config.json",
                fs::copy_options::overwrite_existing);
  fs::copy_file(data("sam3-tiny-seed0/sam3_image/model.safetensors"), mix / "model.safetensors",
                fs::copy_options::overwrite_existing);
  const CliRun r = run_cli("info " + mix.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("missing tracker_model.mask_decoder.iou_token.weight"), std::string::npos);
  EXPECT_NE(r.output.find("unexpected detector_model.detr_decoder.query_embed.weight"), std::string::npos);
}

TEST_F(Cli, VerifyPassesTokenizerAndImageFixtures) {
  CliRun r = run_cli("verify " + data("tokenizer"));
  EXPECT_EQ(r.code, 0) << last_line(r.output);
  EXPECT_EQ(last_line(r.output).rfind("verify: 366/366 tensors within tolerance", 0), 0u) << last_line(r.output);

  r = run_cli("verify " + data("sam3-tiny-seed0/sam3_image"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("c1_text_boxes.pred_masks "), std::string::npos);
  EXPECT_NE(r.output.find("c0_hf_text_only.vision_encoder.backbone.layers.3 "), std::string::npos);
  int passed = 0, total = 0;
  ASSERT_EQ(std::sscanf(last_line(r.output).c_str(), "verify: %d/%d", &passed, &total), 2);
  EXPECT_EQ(passed, total);
  EXPECT_GE(total, 140);
}

// bf16 products on this CPU (own AVX512-BF16 kernels, oneDNN, or the fp32 fallback: the
// compute line says which) within bf16's stated tolerances on the tiny fixtures, image and
// video; and not within fp32's.
TEST_F(Cli, VerifyBf16WithinItsStatedTolerances) {
  for (const char* f : {"sam3-tiny-seed0/sam3_image", "sam3-tiny-seed0/sam3_tracker_video", "sam2-tiny-seed0/sam2_tracker",
                        "sam2-baseplus-seed1/sam2_tracker_video"}) {
    CliRun r = run_cli(std::string("verify ") + data(f) + " --precision bf16");
    EXPECT_EQ(r.code, 0) << f << ": " << last_line(r.output);
    EXPECT_NE(last_line(r.output).find("held to rel-L2 <= 0.1 or max_abs <= 0.05"), std::string::npos)
        << last_line(r.output);
    int passed = 0, total = 0;
    ASSERT_EQ(std::sscanf(last_line(r.output).c_str(), "verify: %d/%d", &passed, &total), 2) << f;
    EXPECT_EQ(passed, total) << f;
    EXPECT_GE(total, 100) << f;
  }
  // Really bf16 where the CPU has bf16 products: fp32's tolerance fails it (a CPU without
  // them runs fp32 and passes).
  const nn::cpu::Bf16Support cpu = nn::cpu::bf16_support();
  const CliRun r = run_cli("verify " + data("sam3-tiny-seed0/sam3_image") + " --precision bf16 --tolerance 1e-4 --abs-floor 0");
  EXPECT_EQ(r.code, cpu.avx512_bf16 || cpu.amx_bf16 ? 1 : 0) << last_line(r.output);
}

TEST_F(Cli, VerifyFailsOnATightToleranceAndOnANonFixture) {
  CliRun r = run_cli("verify " + data("sam3-tiny-seed0/sam3_image") + " --tolerance 1e-12");
  EXPECT_EQ(r.code, 1) << last_line(r.output);
  r = run_cli("verify " + dir_.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("not a fixture folder"), std::string::npos) << r.output;
}

TEST_F(Cli, SegmentWritesOverlayMasksAndCocoRle) {
  const fs::path out = dir_ / "seg";
  const CliRun r = run_cli("segment --model " + (dir_ / "model").string() + " --image " + data("images/oven.jpg") +
                    " --text handle --text door --threshold 0 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("random weights"), std::string::npos);
  ASSERT_TRUE(fs::exists(out / "overlay.png"));
  const at::Tensor overlay = io::decode_image((out / "overlay.png").string());
  EXPECT_EQ(overlay.size(0), 500);
  EXPECT_EQ(overlay.size(1), 332);
  std::ifstream in(out / "result.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["image"]["width"], 332);
  EXPECT_EQ(j["image"]["height"], 500);
  EXPECT_TRUE(j["note"].get<std::string>().find("meaningless") != std::string::npos);
  // Threshold 0 keeps every query of both prompts (8 each in this config).
  ASSERT_EQ(j["instances"].size(), 16u);
  double previous = 2.0;
  for (size_t i = 0; i < j["instances"].size(); ++i) {
    const auto& inst = j["instances"][i];
    EXPECT_LE(inst["score"].get<double>(), previous);
    previous = inst["score"].get<double>();
    EXPECT_EQ(inst["mask"]["size"], (std::vector<int>{500, 332}));
    CocoRle rle{500, 332, inst["mask"]["counts"].get<std::string>()};
    const at::Tensor mask = decode_coco_rle(rle);
    EXPECT_EQ(mask.sum().item<int64_t>(), inst["area"].get<int64_t>());
    char name[32];
    std::snprintf(name, sizeof(name), "mask_%03zu.png", i);
    const at::Tensor png = io::decode_image((out / name).string());
    EXPECT_EQ(png.select(2, 0).gt(127).sum().item<int64_t>(), inst["area"].get<int64_t>());
    const auto& box = inst["box"];
    EXPECT_GE(box[0].get<double>(), 0.0);
    EXPECT_LE(box[2].get<double>(), 332.0);
  }
  EXPECT_TRUE(j["timings_ms"].contains("vision_encoder"));
  EXPECT_TRUE(j["timings_ms"].contains("detector"));
}

TEST_F(Cli, PrecisionGateComparesEveryQueryAndCanFail) {
  // The own bf16 kernel where the CPU has it, whatever a measurement on a loaded CI machine
  // would pick (ATen's bf16 outputs are rounded: worst tracker IoU 0.978 on this model).
  ::setenv("SAM3RT_BF16_GEMM", "own", 1);
  const std::string base = "precision-gate --model " + (dir_ / "model").string() + " --image " +
                           std::string(SAM3RT_TEST_DATA) + "/../../assets/demo/groceries.jpg --text bag --text shoe" +
                           " --threads 1";
  CliRun r = run_cli(base + " --clicks 2");
  EXPECT_EQ(r.code, 0) << r.output;
  // Every query of both texts (the demo config has 8) and every candidate of the 2 x 2
  // clicks (3 each) is compared, whatever its score.
  EXPECT_NE(r.output.find("bf16 vs fp32 on cpu | detector: 16 masks"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bf16 vs fp32 on cpu | tracker: 12 masks"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("precision gate: PASS"), std::string::npos) << r.output;
  // bf16 is never bit-identical to fp32: zero tolerances must fail.
  r = run_cli(base + " --clicks 2 --max-score-diff 0 --min-iou 1 --min-mean-iou 1");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("precision gate: FAIL"), std::string::npos) << r.output;
  // The same device and precision twice agree exactly.
  r = run_cli(base + " --clicks 2 --reference-device cpu --max-score-diff 0 --min-iou 1 --min-mean-iou 1");
  EXPECT_EQ(r.code, 1) << r.output;  // the bf16 comparison still fails ...
  EXPECT_NE(r.output.find("fp32 on cpu vs fp32 on cpu | detector: 16 masks (0 empty in both), mask IoU mean 1.00000, "
                          "worst 1.00000"),
            std::string::npos)
      << r.output;  // ... while fp32 against itself passes at zero tolerance
  // No query above the threshold and no clicks: no evidence, so no pass.
  r = run_cli(base + " --clicks 0 --score-threshold 0.999");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("nothing was checked"), std::string::npos) << r.output;
}

TEST_F(Cli, DeviceAndPrecisionAreChecked) {
  const std::string base = "segment --model " + (dir_ / "model").string() + " --out " + (dir_ / "x").string() +
                           " --image " + data("images/oven.jpg") + " --text shoe";
  CliRun r = run_cli(base + " --device tpu");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("unknown device 'tpu'"), std::string::npos) << r.output;
  r = run_cli(base + " --device cuda:x");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("unknown device 'cuda:x'"), std::string::npos) << r.output;
  r = run_cli(base + " --precision fp16");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("fp16"), std::string::npos) << r.output;
}

TEST_F(Cli, SegmentRejectsBadInput) {
  const std::string base = "segment --model " + (dir_ / "model").string() + " --out " + (dir_ / "x").string();
  const std::string img = " --image " + data("images/oven.jpg");
  struct Case {
    std::string args;
    int code;
    std::string message;
  };
  const Case cases[] = {
      {base + img, 1, "no prompt"},
      {base + img + " --box 10,10,50,50", 1, "ambiguous"},
      {base + img + " --mode concept --box 10,10,400,50", 1, "outside the 332x500 image"},
      {base + img + " --mode concept --box 50,10,20,50", 1, "x2 > x1"},
      {base + img + " --mode concept --box 1,2,3", 1, "expected x1,y1,x2,y2"},
      {base + img + " --text shoe --mode sideways", 1, "the mode must be concept or object"},
      {base + " --image " + (dir_ / "nope.jpg").string() + " --text shoe", 1, "nope.jpg"},
      {base + " --image " + data("images/not_an_image.png") + " --text shoe", 1, "not_an_image.png"},
      {base + img + " --text shoe --frobnicate", 2, "frobnicate"},
      {"segment --model " + data("sam3-tiny-seed0/sam3_tracker") + " --out " + (dir_ / "x").string() + img +
           " --text shoe",
       1, "no concept detector"},
  };
  for (const auto& c : cases) {
    const CliRun r = run_cli(c.args);
    EXPECT_EQ(r.code, c.code) << c.args << "\n" << r.output;
    EXPECT_EQ(count_lines(r.output), 1u) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
}

}  // namespace
}  // namespace sam3rt
