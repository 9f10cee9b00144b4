// `sam3rt track` as a user runs it: a 6-frame folder and a short mp4 built from the bedroom
// frames in tests/data/video, a tiny random sam3_video checkpoint; clicks, boxes, masks and
// text prompts; exit codes, the output files (mask PNGs per object and frame, overlay
// video, tracks.json with COCO RLE masks equal to the PNGs) and one-line errors for bad
// input.
#include <gtest/gtest.h>

#include <ATen/ops/equal.h>
#include <ATen/ops/roll.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "io/image.h"
#include "io/video.h"
#include "pipeline/preprocess.h"
#include "render/coco_rle.h"
#include "testing/cli.h"
#include "render/video_writer.h"

namespace sam3rt {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

class TrackCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sam3rt_track_cli_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "frames");
    // A tiny sam3_video model (the fixture's config; CLIP's vocabulary size so that the
    // bundled tokenizer loads).
    std::ifstream in(std::string(SAM3RT_TEST_DATA) + "/sam3-tiny-seed0/sam3_video/config.json");
    nlohmann::json j = nlohmann::json::parse(in);
    j["detector_config"]["text_config"]["vocab_size"] = 49408;
    std::ofstream(dir_ / "config.json") << j.dump(2);
    const testing::CliRun r = testing::run_cli("make-random-checkpoint --config " + (dir_ / "config.json").string() + " --out " +
                         model() + " --seed 5");
    ASSERT_EQ(r.code, 0) << r.output;
    // Six 240x136 frames named 0.jpg .. 5.png (unpadded: sorted numerically), and the same
    // as an mp4.
    for (int k = 0; k < 6; ++k) {
      const at::Tensor rgb =
          io::decode_image(std::string(SAM3RT_TEST_DATA) + "/video/0000" + std::to_string(k % 4) + ".jpg");
      at::Tensor small =
          pipeline::resize_bilinear_antialiased_uint8(rgb.permute({2, 0, 1}), 136, 240).permute({1, 2, 0});
      frames_.push_back(at::roll(small, {5 * k}, {1}).contiguous());
      io::write_png((dir_ / "frames" / (std::to_string(k) + ".png")).string(), frames_.back());
    }
    if (render::can_write_video_files()) {
      render::VideoFileWriter w((dir_ / "clip.mp4").string(), 10, 240, 136);
      for (const auto& f : frames_) w.write(f);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string model() { return (dir_ / "model").string(); }
  static std::string frames() { return (dir_ / "frames").string(); }
  static std::string out(const std::string& name) { return (dir_ / name).string(); }
  // One thread: the tiny model gains nothing from more, and a loaded machine's spinning
  // OpenMP workers would only slow it down.
  static testing::CliRun track(const std::string& args) { return testing::run_cli("track --threads 1 --model " + model() + " " + args); }

  // Exit 1, one line on stderr (nothing else printed) that contains `fragment`.
  static void expect_one_line_error(const std::string& args, const std::string& fragment) {
    SCOPED_TRACE(args);
    const testing::CliRun r = track(args);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_EQ(testing::count_lines(r.output), 1u) << r.output;
    EXPECT_EQ(r.output.rfind("sam3rt: error: ", 0), 0u) << r.output;
    EXPECT_NE(r.output.find(fragment), std::string::npos) << r.output;
  }

  static fs::path dir_;
  static std::vector<at::Tensor> frames_;
};
fs::path TrackCli::dir_;
std::vector<at::Tensor> TrackCli::frames_;

// tracks.json frames against the mask PNGs: same objects, RLE = PNG, box = the mask's.
// (pngs = false: written with --no-masks, only tracks.json to check.)
void check_outputs(const fs::path& out, const std::vector<int64_t>& frame_order, const std::vector<int64_t>& ids,
                   bool pngs = true) {
  const nlohmann::json j = read_json(out / "tracks.json");
  EXPECT_EQ(j["video"]["width"], 240);
  EXPECT_EQ(j["video"]["height"], 136);
  EXPECT_EQ(j["video"]["num_frames"], 6);
  EXPECT_EQ(j["objects"].get<std::vector<int64_t>>(), ids);
  ASSERT_EQ(j["frames"].size(), frame_order.size());
  for (size_t i = 0; i < frame_order.size(); ++i) {
    const auto& f = j["frames"][i];
    EXPECT_EQ(f["frame"], frame_order[i]);
    ASSERT_EQ(f["objects"].size(), ids.size());
    for (size_t k = 0; k < ids.size(); ++k) {
      const auto& o = f["objects"][k];
      EXPECT_EQ(o["id"], ids[k]);
      const float score = o["score"].get<float>();
      EXPECT_GE(score, 0.0f);
      EXPECT_LE(score, 1.0f);
      CocoRle rle{o["mask"]["size"][0].get<int64_t>(), o["mask"]["size"][1].get<int64_t>(),
                          o["mask"]["counts"].get<std::string>()};
      ASSERT_EQ(rle.height, 136);
      ASSERT_EQ(rle.width, 240);
      const at::Tensor mask = decode_coco_rle(rle);
      if (pngs) {
        char name[16];
        std::snprintf(name, sizeof(name), "%05lld.png", static_cast<long long>(frame_order[i]));
        const at::Tensor png = io::decode_image((out / "masks" / std::to_string(ids[k]) / name).string());
        EXPECT_TRUE(at::equal(png.select(2, 0).gt(127), mask)) << "frame " << frame_order[i] << " object " << ids[k];
      }
      EXPECT_EQ(o["area"].get<int64_t>(), mask.sum().item<int64_t>());
      if (!o["present"].get<bool>()) {
        EXPECT_EQ(o["area"].get<int64_t>(), 0);
      }
    }
  }
}

TEST_F(TrackCli, TracksClicksAndABoxThroughAFrameFolder) {
  const fs::path o = out("folder");
  const testing::CliRun r = track("--video " + frames() + " --point 0:60,50 --point 0:80,60,neg --box 0:120,40,200,120@2 --out " +
                         o.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("tracked 2 objects over 6 frames"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("track: 6/6 frames"), std::string::npos) << "the final progress line (not a TTY)\n"
                                                                    << r.output;
  check_outputs(o, {0, 1, 2, 3, 4, 5}, {1, 2});
  const nlohmann::json j = read_json(o / "tracks.json");
  EXPECT_EQ(j["direction"], "forward");
  EXPECT_EQ(j["prompts"].size(), 3u);
  EXPECT_TRUE(j.contains("note")) << "random weights are flagged";
  for (int64_t id : {1, 2}) {
    EXPECT_EQ(std::distance(fs::directory_iterator(o / "masks" / std::to_string(id)), fs::directory_iterator{}), 6);
  }
  if (render::can_write_video_files()) {
    auto overlay = open_frame_source((o / "overlay.mp4").string());
    EXPECT_EQ(overlay->num_frames(), 6);
    EXPECT_EQ(overlay->width(), 240);
    EXPECT_EQ(overlay->height(), 136);
  } else {
    EXPECT_TRUE(fs::exists(o / "overlay" / "00005.png"));
  }
  EXPECT_FALSE(fs::exists(o / ".tracks.jsonl.tmp"));
}

TEST_F(TrackCli, AVideoFileTrackedBackwardsGivesFramesInOrder) {
  if (!render::can_write_video_files()) GTEST_SKIP() << "built without OpenCV videoio";
  const fs::path o = out("reverse");
  const testing::CliRun r = track("--video " + out("clip.mp4") + " --box 3:30,20,150,110@4 --reverse --out " + o.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("over 4 frames (backwards from frame 3)"), std::string::npos) << r.output;
  check_outputs(o, {0, 1, 2, 3}, {4});  // tracks.json in frame order
  EXPECT_EQ(read_json(o / "tracks.json")["direction"], "reverse");
  auto overlay = open_frame_source((o / "overlay.mp4").string());
  EXPECT_EQ(overlay->num_frames(), 4);  // redrawn in frame order
  EXPECT_FALSE(fs::exists(o / "masks" / "4" / "00004.png"));
}

TEST_F(TrackCli, MaskPromptsAndFrameLimits) {
  // The box run's object-2 mask on frame 2 as a mask prompt for object 7, from frame 2.
  const fs::path src = out("folder");
  if (!fs::exists(src / "masks" / "2" / "00002.png")) {
    ASSERT_EQ(track("--video " + frames() + " --box 0:120,40,200,120@2 --no-overlay --out " + src.string()).code, 0);
  }
  const fs::path o = out("mask");
  const testing::CliRun r = track("--video " + frames() + " --mask 2:" + (src / "masks" / "2" / "00002.png").string() +
                         "@7 --max-frames 2 --no-overlay --no-masks --out " + o.string());
  ASSERT_EQ(r.code, 0) << r.output;
  check_outputs(o, {2, 3}, {7}, /*pngs=*/false);
  EXPECT_FALSE(fs::exists(o / "masks"));
  EXPECT_FALSE(fs::exists(o / "overlay.mp4"));
  EXPECT_FALSE(fs::exists(o / "overlay"));
}

TEST_F(TrackCli, TextPromptsFindTheirOwnObjects) {
  const fs::path o = out("text");
  const testing::CliRun r = track("--video " + frames() + " --text person --text chair --max-objects 3 --out " + o.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("over 6 frames (forwards from frame 0)"), std::string::npos) << r.output;
  const nlohmann::json j = read_json(o / "tracks.json");
  EXPECT_EQ(j["texts"], nlohmann::json::array({"person", "chair"}));
  ASSERT_EQ(j["frames"].size(), 6u);
  // Whatever this random model finds: every object listed is present on some frame, has
  // a mask PNG where it appears, and at most 3 exist.
  std::set<int64_t> seen;
  for (const auto& f : j["frames"]) {
    for (const auto& obj : f["objects"]) {
      EXPECT_TRUE(obj["present"].get<bool>());
      seen.insert(obj["id"].get<int64_t>());
      char name[16];
      std::snprintf(name, sizeof(name), "%05lld.png", static_cast<long long>(f["frame"].get<int64_t>()));
      EXPECT_TRUE(fs::exists(o / "masks" / std::to_string(obj["id"].get<int64_t>()) / name));
    }
  }
  EXPECT_EQ(j["objects"].get<std::set<int64_t>>(), seen);
  EXPECT_FALSE(seen.empty()) << "this model and clip give some detections";
  EXPECT_LE(seen.size(), 3u);
}

// The last line of the output.
std::string last_line(const std::string& s) {
  const size_t end = s.find_last_not_of('\n');
  if (end == std::string::npos) return "";
  const size_t start = s.rfind('\n', end);
  return s.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start == std::string::npos ? 0 : start + 1));
}

// A frame that cannot be read in the middle of a folder: the run ends with an error naming
// the frame (exit 1), and what was tracked before it stays valid: tracks.json closed over
// frames 0..2 with an "error" member, their mask PNGs, no temporary files.
TEST_F(TrackCli, AnUnreadableFrameEndsTheRunWithEarlierOutputsValid) {
  const fs::path folder = dir_ / "frames_bad";
  fs::create_directories(folder);
  for (int k = 0; k < 6; ++k) fs::copy_file(dir_ / "frames" / (std::to_string(k) + ".png"),
                                            folder / (std::to_string(k) + ".png"), fs::copy_options::overwrite_existing);
  {
    std::ofstream bad(folder / "3.png", std::ios::binary | std::ios::trunc);
    bad << "\x89PNG\r\n\x1a\n but then nothing a decoder wants";
  }
  const fs::path o = out("bad_frame");
  const testing::CliRun r = track("--video " + folder.string() + " --point 0:60,50 --out " + o.string());
  EXPECT_EQ(r.code, 1) << r.output;
  const std::string line = last_line(r.output);
  EXPECT_EQ(line.rfind("sam3rt: error: ", 0), 0u) << r.output;
  EXPECT_NE(line.find("frame 3 of"), std::string::npos) << line;
  EXPECT_NE(line.find("3.png"), std::string::npos) << line;
  EXPECT_NE(line.find("the 3 frames tracked before it"), std::string::npos) << line;
  check_outputs(o, {0, 1, 2}, {1});
  const nlohmann::json j = read_json(o / "tracks.json");
  ASSERT_TRUE(j.contains("error")) << j.dump();
  EXPECT_EQ(j["error"]["code"], "corrupt input");
  EXPECT_EQ(j["error"]["frames_written"], 3);
  EXPECT_NE(j["error"]["message"].get<std::string>().find("3.png"), std::string::npos);
  EXPECT_FALSE(fs::exists(o / "masks" / "1" / "00003.png"));
  EXPECT_FALSE(fs::exists(o / ".tracks.jsonl.tmp"));
  EXPECT_FALSE(fs::exists(o / "tracks.json.part"));
  if (render::can_write_video_files()) {
    EXPECT_EQ(open_frame_source((o / "overlay.mp4").string())->num_frames(), 3) << "the overlay is closed, playable";
  }
}

// A write that fails midway (a file size limit here, as a full disk would make it fail):
// a clear error, exit 1, and every file left under its final name whole: mask PNGs that
// decode, tracks.json whole or absent, no partial or temporary files.
TEST_F(TrackCli, AFailingWriteIsAnErrorAndLeavesNoTruncatedFile) {
  const fs::path o = out("file_limit");
  // 2 blocks of 512 bytes per file: the per-frame entries outgrow it within the video.
  // The CLI ignores SIGXFSZ, so the write fails with EFBIG instead of killing it.
  const std::string cmd = "ulimit -f 2; exec " + std::string(SAM3RT_CLI_PATH) + " track --threads 1 --model " +
                          model() + " --video " + frames() + " --point 0:60,50 --point 0:150,90@2 --no-overlay --out " +
                          o.string() + " 2>&1";
  const testing::CliRun r = testing::run_shell("bash -c '" + cmd + "'");
  ASSERT_NE(r.code, -1) << "killed (SIGXFSZ not ignored?)\n" << r.output;
  EXPECT_EQ(r.code, 1) << r.output;
  const std::string& output = r.output;
  const std::string line = last_line(output);
  EXPECT_EQ(line.rfind("sam3rt: error: ", 0), 0u) << output;
  EXPECT_NE(line.find("write failed"), std::string::npos) << line;
  size_t pngs = 0;
  for (const auto& e : fs::recursive_directory_iterator(o)) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(name.find(".part"), std::string::npos) << "partial file left: " << e.path();
    EXPECT_NE(name, ".tracks.jsonl.tmp");
    if (e.path().extension() == ".png") {
      EXPECT_NO_THROW(io::decode_image(e.path().string())) << e.path();
      ++pngs;
    }
  }
  EXPECT_GT(pngs, 0u) << "the limit should allow a few frames";
  if (fs::exists(o / "tracks.json")) {
    EXPECT_NO_THROW(read_json(o / "tracks.json"));
  }
}

TEST_F(TrackCli, BadInputIsOneLineAndExitOne) {
  const std::string o = " --out " + out("bad");
  const std::string v = " --video " + frames();
  expect_one_line_error("--video " + out("missing.mp4") + " --point 0:1,1" + o, "missing.mp4");
  {
    std::ofstream(out("junk.mp4")) << "definitely not a video";
    expect_one_line_error("--video " + out("junk.mp4") + " --point 0:1,1" + o, "junk.mp4");
  }
  fs::create_directories(out("empty"));
  expect_one_line_error("--video " + out("empty") + " --point 0:1,1" + o, "no frames");
  expect_one_line_error(v + " --point 6:10,10" + o, "frame 6 is past the end of the video");
  expect_one_line_error(v + " --box 9:1,1,20,20@3" + o, "has 6 frames, 0..5");
  expect_one_line_error(v + " --point 0:300,10" + o, "outside the 240x136 video");
  // Not finite (found by fuzz/prompt_args_fuzz.cpp's invariant: std::stof reads them).
  expect_one_line_error(v + " --point 0:nan,10" + o, "'nan' is not a finite number");
  expect_one_line_error(v + " --box 0:1,1,inf,20" + o, "'inf' is not a finite number");
  expect_one_line_error(v + " --box 0:1,1,20,20 --box 0:5,5,30,30" + o, "already has a box on frame 0");
  expect_one_line_error(v + " --text person --point 0:10,10" + o, "either text or clicks");
  expect_one_line_error(v + " --point 0:10,10@1 --point 0:20,20@2 --max-objects 1" + o, "--max-objects is 1");
  expect_one_line_error(v + " --point 0:10" + o, "expected F:x,y");
  expect_one_line_error(v + " --point x:10,10" + o, "frame 'x' is not an integer");
  expect_one_line_error(v + " --point 0:10,10@one" + o, "object id 'one'");
  expect_one_line_error(v + " --box 0:10,10,5,20" + o, "x2 > x1");
  expect_one_line_error(v + o, "no prompt");
  expect_one_line_error(v + " --mask 0:" + out("nope.png") + o, "nope.png");
  // Usage errors exit with 2.
  const testing::CliRun r = track(v + " --point 0:10,10");
  EXPECT_EQ(r.code, 2) << r.output;
}

}  // namespace
}  // namespace sam3rt
