// `sam3rt segment` in object mode, run as a process: outputs (overlay, per-mask PNGs,
// result.json with IoU, object score and COCO RLE per mask), the multimask default and
// flags, refinement from a mask PNG, and one stderr line with a non-zero exit for bad input.
#include <gtest/gtest.h>

#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/stack.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/image.h"
#include "pipeline/random_checkpoint.h"
#include "render/coco_rle.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int code = -1;
  std::string out, err;
};

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

class SegmentObjectCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() / ("sam3rt_segment_object_cli_" + std::to_string(::getpid())));
    fs::create_directories(*root_);
    // The tiny sam3_video fixture config (the published layout) with CLIP's vocabulary
    // size, so that the bundled tokenizer fits, as random weights.
    std::ifstream in(testing::data_path("sam3-tiny-seed0/sam3_video/config.json"));
    nlohmann::json j = nlohmann::json::parse(in);
    j["detector_config"]["text_config"]["vocab_size"] = 49408;
    std::ofstream(*root_ / "config.json") << j.dump(2);
    pipeline::make_random_checkpoint((*root_ / "config.json").string(), (*root_ / "model").string(), {});
    // A 150 x 100 picture: gradient with a bright square.
    const int64_t h = 100, w = 150;
    at::Tensor y = at::arange(h).view({h, 1}).expand({h, w});
    at::Tensor x = at::arange(w).view({1, w}).expand({h, w});
    at::Tensor rgb = at::stack({x.mul(255).div(w, "floor"), y.mul(255).div(h, "floor"), x.add(y).remainder(256)}, -1)
                         .to(at::kByte)
                         .contiguous();
    rgb.narrow(0, 30, 30).narrow(1, 50, 40).fill_(230);
    io::write_png((*root_ / "image.png").string(), rgb);
    io::write_png((*root_ / "small_mask.png").string(), rgb.select(2, 0).narrow(0, 0, 50).contiguous());
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*root_, ec);
    delete root_;
  }

  // Runs `sam3rt segment --model M --image I --out OUT ARGS`.
  static CliRun segment(const std::string& args, const std::string& out_name) {
    const fs::path out = *root_ / out_name;
    fs::remove_all(out);
    const fs::path so = *root_ / "stdout.txt", se = *root_ / "stderr.txt";
    const std::string cmd = std::string("'") + SAM3RT_CLI_PATH + "' segment --model '" + (*root_ / "model").string() +
                            "' --image '" + (*root_ / "image.png").string() + "' --out '" + out.string() + "' " +
                            args + " >'" + so.string() + "' 2>'" + se.string() + "'";
    const int status = std::system(cmd.c_str());
    CliRun r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_text(so);
    r.err = read_text(se);
    return r;
  }

  static nlohmann::json result(const std::string& out_name) {
    std::ifstream in(*root_ / out_name / "result.json");
    return nlohmann::json::parse(in);
  }

  // A failure: non-zero exit, exactly one stderr line naming the problem.
  static void expect_fails(const std::string& args, const std::string& fragment) {
    SCOPED_TRACE(args);
    const CliRun r = segment(args, "bad");
    EXPECT_EQ(r.code, 1);
    const auto l = lines(r.err);
    ASSERT_EQ(l.size(), 1u) << r.err;
    EXPECT_EQ(l[0].rfind("sam3rt: error: ", 0), 0u) << l[0];
    EXPECT_NE(l[0].find(fragment), std::string::npos) << l[0];
    EXPECT_FALSE(fs::exists(*root_ / "bad" / "result.json"));
  }

  static fs::path* root_;
};
fs::path* SegmentObjectCli::root_ = nullptr;

// One click: three candidates (SAM's default for a single point), sorted by IoU, the
// best one first and flagged, each with its mask PNG equal to its COCO RLE.
TEST_F(SegmentObjectCli, SinglePointGivesThreeCandidates) {
  const CliRun r = segment("--point 60,40", "one");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("3 masks"), std::string::npos) << r.out;
  const fs::path dir = *root_ / "one";
  EXPECT_TRUE(fs::exists(dir / "overlay.png"));
  const nlohmann::json j = result("one");
  EXPECT_EQ(j["mode"], "object");
  EXPECT_EQ(j["model"], "sam3_video");
  EXPECT_EQ(j["image"]["width"], 150);
  EXPECT_EQ(j["image"]["height"], 100);
  EXPECT_EQ(j["prompt"]["multimask"], true);
  ASSERT_EQ(j["prompt"]["points"].size(), 1u);
  EXPECT_EQ(j["prompt"]["points"][0]["x"], 60.0);
  const auto& inst = j["instances"];
  ASSERT_EQ(inst.size(), 3u);
  int best = 0;
  std::vector<int> slots;
  for (size_t i = 0; i < inst.size(); ++i) {
    const auto& e = inst[i];
    ASSERT_TRUE(e.contains("iou") && e.contains("object_score") && e.contains("mask") && e.contains("box"));
    EXPECT_FALSE(e.contains("presence"));
    if (i > 0) EXPECT_GE(inst[i - 1]["iou"].get<double>(), e["iou"].get<double>());
    EXPECT_EQ(e["object_score"], inst[0]["object_score"]);
    EXPECT_GT(e["object_score"].get<double>(), 0.0);
    EXPECT_LT(e["object_score"].get<double>(), 1.0);
    best += e["best"].get<bool>() ? 1 : 0;
    slots.push_back(e["candidate"].get<int>());
    // The mask PNG and the RLE are the same mask, of the image's size.
    char name[32];
    std::snprintf(name, sizeof(name), "mask_%03zu.png", i);
    const at::Tensor png = io::decode_image((dir / name).string()).select(2, 0).gt(127);
    CocoRle rle;
    rle.height = e["mask"]["size"][0];
    rle.width = e["mask"]["size"][1];
    rle.counts = e["mask"]["counts"];
    EXPECT_EQ(rle.height, 100);
    EXPECT_EQ(rle.width, 150);
    const at::Tensor decoded = decode_coco_rle(rle);
    EXPECT_TRUE(at::equal(decoded, png)) << name;
    EXPECT_EQ(decoded.sum().item<int64_t>(), e["area"].get<int64_t>());
  }
  EXPECT_EQ(best, 1);
  EXPECT_TRUE(inst[0]["best"].get<bool>());
  std::sort(slots.begin(), slots.end());
  EXPECT_EQ(slots, (std::vector<int>{0, 1, 2}));
  EXPECT_FALSE(fs::exists(dir / "mask_003.png"));

  // --best keeps the top candidate only: the same mask as mask_000.png above.
  const CliRun b = segment("--point 60,40 --best", "best");
  ASSERT_EQ(b.code, 0) << b.err;
  const nlohmann::json jb = result("best");
  ASSERT_EQ(jb["instances"].size(), 1u);
  EXPECT_TRUE(jb["instances"][0]["best"].get<bool>());
  EXPECT_EQ(jb["instances"][0]["candidate"], inst[0]["candidate"]);
  EXPECT_EQ(jb["instances"][0]["mask"]["counts"], inst[0]["mask"]["counts"]);
  EXPECT_FALSE(fs::exists(*root_ / "best" / "mask_001.png"));
}

// A box, or several points, give one mask unless --multimask; --mode object is implied by
// --point and --mask-input.
TEST_F(SegmentObjectCli, MultimaskDefaultAndFlag) {
  CliRun r = segment("--mode object --box 20,10,120,90", "box");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(result("box")["instances"].size(), 1u);
  EXPECT_EQ(result("box")["prompt"]["multimask"], false);
  EXPECT_EQ(result("box")["prompt"]["box"], (nlohmann::json{20.0, 10.0, 120.0, 90.0}));

  r = segment("--mode object --box 20,10,120,90 --multimask", "box3");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(result("box3")["instances"].size(), 3u);

  r = segment("--point 60,40 --point 10,90,neg", "two");
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = result("two");
  EXPECT_EQ(j["instances"].size(), 1u);
  EXPECT_EQ(j["prompt"]["points"][1]["positive"], false);

  r = segment("--point 60,40 --point 10,90,0 --box 20,10,120,90", "all");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(result("all")["instances"].size(), 1u);
}

// Refinement from the command line: a previous mask PNG as --mask-input (alone, or with
// a click) is a prompt of its own.
TEST_F(SegmentObjectCli, MaskInputRefines) {
  ASSERT_EQ(segment("--point 60,40 --best", "first").code, 0);
  const std::string mask = (*root_ / "first" / "mask_000.png").string();
  CliRun r = segment("--mask-input '" + mask + "'", "from_mask");
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = result("from_mask");
  EXPECT_EQ(j["instances"].size(), 1u);
  EXPECT_EQ(j["prompt"]["mask_input"], mask);
  r = segment("--point 60,40 --point 140,95,neg --mask-input '" + mask + "'", "refined");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(result("refined")["instances"].size(), 1u);
}

TEST_F(SegmentObjectCli, BadInputIsOneLineAndNonZero) {
  expect_fails("--point 151,40", "point 1 (151,40) lies outside the 150x100 image");
  expect_fails("--point 60,-3", "outside the 150x100 image");
  expect_fails("--point 60,40,2", "label '2' must be pos (1) or neg (0)");
  expect_fails("--point 60,40,maybe", "label 'maybe'");
  expect_fails("--point 60", "expected x,y");
  expect_fails("--point 6a,40", "is not a number");
  expect_fails("--mode object --box 90,10,40,60", "needs x2 > x1 and y2 > y1");
  expect_fails("--mode object --box 10,10,160,60", "lies outside the 150x100 image");
  expect_fails("--mode object --box 10,10,40,60,neg", "negative");
  expect_fails("--mode object --box 10,10,40,60 --box 0,0,5,5", "object mode takes at most one box");
  expect_fails("--point 60,40 --mask-input '" + (*root_ / "small_mask.png").string() + "'",
               "is 150x50 but the image is 150x100");
  expect_fails("--mode object", "object mode needs points, a box or a mask input");
  expect_fails("--point 60,40 --text cat", "a text belongs to concept mode");
  // Boxes alone stay ambiguous.
  expect_fails("--box 10,10,40,60", "ambiguous");
}

}  // namespace
}  // namespace sam3rt
