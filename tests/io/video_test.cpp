// Video input and output: frame-folder ordering, the folder and video-file FrameSources
// (pixels, order, backward and random access through the frame cache, frame counts of
// mp4 / avi / mkv), the LRU cache, looping, bad input (missing paths, empty folders,
// garbage files, frames of another size); and the track outputs (render/video_writer.h):
// overlay pixels, tracks.json entries, TrackWriter ordering. Frames are built at run time from the bedroom frames in
// tests/data/video (see PROVENANCE.md there), shifted so that every frame differs.
#include "testing/errors.h"
#include "io/video.h"

#include <ATen/ops/abs.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/roll.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/image.h"
#include "pipeline/preprocess.h"
#include "render/coco_rle.h"
#include "sam3rt/image.h"
#include "render/video_writer.h"
#include "sam3rt/error.h"

namespace sam3rt::io {
namespace {

namespace fs = std::filesystem;

const std::string kFrames = std::string(SAM3RT_TEST_DATA) + "/video";

using testing::expect_error;

class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(fs::path(::testing::TempDir()) / ("sam3rt_video_test_" + std::to_string(::getpid()) + "_" + name)) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& leaf) const { return (path_ / leaf).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void touch(const std::string& path, const std::string& content = "") {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::vector<std::string> leaves(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) out.push_back(fs::path(p).filename().string());
  return out;
}

// n distinct frames of size w x h: bedroom frame k % 4, resized, rolled 7k pixels right.
std::vector<at::Tensor> make_frames(int n, int64_t w, int64_t h) {
  std::vector<at::Tensor> base;
  for (int i = 0; i < 4; ++i) {
    const at::Tensor rgb = decode_image(kFrames + "/0000" + std::to_string(i) + ".jpg");
    base.push_back(
        pipeline::resize_bilinear_antialiased_uint8(rgb.permute({2, 0, 1}), h, w).permute({1, 2, 0}).contiguous());
  }
  std::vector<at::Tensor> frames;
  for (int k = 0; k < n; ++k) frames.push_back(at::roll(base[k % 4], {7 * k}, {1}).contiguous());
  return frames;
}

double mean_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return at::abs(a.to(at::kFloat).sub(b.to(at::kFloat))).mean().item<double>();
}

TEST(FrameFolder, IntegerNamesSortNumerically) {
  TempDir d("numeric");
  for (const char* n : {"10.jpg", "9.png", "0.jpg", "2.JPG", "1.jpeg", "007.png", "notes.txt", ".hidden"}) touch(d.file(n));
  fs::create_directories(d.file("5.png"));  // a folder, not a frame
  EXPECT_EQ(leaves(list_frame_files(d.path().string())),
            (std::vector<std::string>{"0.jpg", "1.jpeg", "2.JPG", "007.png", "9.png", "10.jpg"}));
}

TEST(FrameFolder, OtherNamesSortLexicographically) {
  TempDir d("lexicographic");
  for (const char* n : {"frame_10.png", "frame_9.png", "2.png", "B.jpg", "a.jpg"}) touch(d.file(n));
  EXPECT_EQ(leaves(list_frame_files(d.path().string())),
            (std::vector<std::string>{"2.png", "B.jpg", "a.jpg", "frame_10.png", "frame_9.png"}));
}

TEST(FrameFolder, HugeIntegerNamesStillSortByValue) {
  TempDir d("huge");
  for (const char* n : {"123456789012345678901234.png", "99999999999999999999999.png", "00001.png"}) touch(d.file(n));
  EXPECT_EQ(leaves(list_frame_files(d.path().string())),
            (std::vector<std::string>{"00001.png", "99999999999999999999999.png", "123456789012345678901234.png"}));
}

TEST(FrameFolder, EmptyOrMissingFolderIsAnError) {
  TempDir d("empty");
  touch(d.file("readme.txt"));
  std::string msg = expect_error(ErrorCode::kNotFound, [&] { open_frame_source(d.path().string()); });
  EXPECT_NE(msg.find("no frames"), std::string::npos) << msg;
  EXPECT_NE(msg.find(d.path().string()), std::string::npos) << msg;
  msg = expect_error(ErrorCode::kNotFound, [&] { open_frame_source(d.file("nope")); });
  EXPECT_NE(msg.find("nope"), std::string::npos) << msg;
  expect_error(ErrorCode::kInvalidArgument, [&] { open_frame_source(""); });
}

TEST(FrameFolder, FramesComeInOrderWithTheirPixels) {
  TempDir d("pixels");
  const std::vector<at::Tensor> frames = make_frames(12, 40, 24);
  for (int i = 0; i < 12; ++i) write_png(d.file(std::to_string(i) + ".png"), frames[i]);  // 0.png .. 11.png
  FrameSourceOptions o;
  o.cache_frames = 3;
  auto src = open_frame_source(d.path().string(), o);
  EXPECT_EQ(src->num_frames(), 12);
  EXPECT_EQ(src->width(), 40);
  EXPECT_EQ(src->height(), 24);
  EXPECT_EQ(src->fps(), 0);
  EXPECT_EQ(src->name(), d.path().string());
  for (int i : {0, 1, 2, 10, 11, 3, 9, 8, 7, 0, 5}) {
    const at::Tensor f = src->frame(i);
    ASSERT_EQ(f.sizes(), (std::vector<int64_t>{24, 40, 3}));
    EXPECT_EQ(f.scalar_type(), at::kByte);
    EXPECT_TRUE(f.is_contiguous());
    EXPECT_TRUE(at::equal(f, frames[i])) << "frame " << i;  // PNG is lossless
  }
  const std::string msg = expect_error(ErrorCode::kInvalidArgument, [&] { src->frame(12); });
  EXPECT_NE(msg.find("12 frames"), std::string::npos) << msg;
  expect_error(ErrorCode::kInvalidArgument, [&] { src->frame(-1); });
}

TEST(FrameFolder, CacheAvoidsDecodingAgain) {
  TempDir d("cache");
  const std::vector<at::Tensor> frames = make_frames(6, 16, 8);
  for (int i = 0; i < 6; ++i) write_png(d.file(std::to_string(i) + ".png"), frames[i]);
  FrameSourceOptions o;
  o.cache_frames = 2;
  auto src = open_frame_folder(d.path().string(), o);
  EXPECT_EQ(decode_stats(*src).decoded, 1);  // the first frame, for the size
  src->frame(0);
  src->frame(1);
  src->frame(0);
  EXPECT_EQ(decode_stats(*src).decoded, 2);
  src->frame(2);  // evicts 1, the least recently used
  src->frame(0);
  EXPECT_EQ(decode_stats(*src).decoded, 3);
  src->frame(1);
  EXPECT_EQ(decode_stats(*src).decoded, 4);
}

TEST(FrameFolder, AFrameOfAnotherSizeOrAnUnreadableFrameIsAnError) {
  TempDir d("mismatch");
  const std::vector<at::Tensor> frames = make_frames(2, 32, 16);
  write_png(d.file("0.png"), frames[0]);
  write_png(d.file("1.png"), make_frames(1, 30, 16)[0]);
  touch(d.file("2.png"), "not a png");
  auto src = open_frame_source(d.path().string());
  EXPECT_EQ(src->num_frames(), 3);
  std::string msg = expect_error(ErrorCode::kCorruption, [&] { src->frame(1); });
  EXPECT_NE(msg.find("1.png"), std::string::npos) << msg;
  EXPECT_NE(msg.find("30x16"), std::string::npos) << msg;
  msg = expect_error(ErrorCode::kCorruption, [&] { src->frame(2); });
  EXPECT_NE(msg.find("2.png"), std::string::npos) << msg;
}

TEST(FrameCache, EvictsTheLeastRecentlyUsed) {
  FrameCache c(2);
  const at::Tensor a = at::zeros({1}), b = at::zeros({2}), x = at::zeros({3});
  c.put(0, a);
  c.put(1, b);
  EXPECT_TRUE(c.get(0).defined());  // 0 is now the most recent
  c.put(2, x);
  EXPECT_TRUE(c.contains(0));
  EXPECT_FALSE(c.contains(1));
  EXPECT_TRUE(c.contains(2));
  EXPECT_FALSE(c.get(1).defined());
  EXPECT_EQ(c.size(), 2u);
  c.put(2, b);  // refresh in place
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.get(2).numel(), 2);
  expect_error(ErrorCode::kInvalidArgument, [] { FrameCache bad(0); });
}

TEST(LoopedSource, RepeatsTheInnerVideo) {
  TempDir d("loop");
  const std::vector<at::Tensor> frames = make_frames(3, 16, 8);
  for (int i = 0; i < 3; ++i) write_png(d.file(std::to_string(i) + ".png"), frames[i]);
  LoopedFrameSource loop(open_frame_source(d.path().string()), 10);
  EXPECT_EQ(loop.num_frames(), 10);
  EXPECT_EQ(loop.width(), 16);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(at::equal(loop.frame(i), frames[i % 3])) << i;
  expect_error(ErrorCode::kInvalidArgument, [&] { loop.frame(10); });
  EXPECT_NE(loop.name().find("looped to 10 frames"), std::string::npos);
}

// --- video files (OpenCV builds) -------------------------------------------------------

struct Written {
  std::string path;
  std::vector<at::Tensor> frames;
};

Written write_video(const TempDir& d, const std::string& leaf, const std::string& fourcc, int n, double fps) {
  Written w{d.file(leaf), make_frames(n, 160, 96)};
  render::VideoFileWriter out(w.path, fps, 160, 96, fourcc);
  for (const auto& f : w.frames) out.write(f);
  EXPECT_EQ(out.close(), n);
  return w;
}

TEST(VideoFile, WithoutOpenCvVideoFilesAreUnsupported) {
  if (can_read_video_files()) GTEST_SKIP() << "this build reads video files";
  TempDir d("noopencv");
  touch(d.file("clip.mp4"), "whatever");
  const std::string msg = expect_error(ErrorCode::kUnsupported, [&] { open_frame_source(d.file("clip.mp4")); });
  EXPECT_NE(msg.find("folder"), std::string::npos) << msg;
}

TEST(VideoFile, EveryContainerGivesItsFramesInOrder) {
  if (!can_read_video_files()) GTEST_SKIP() << "built without OpenCV videoio";
  TempDir d("containers");
  for (const auto& [leaf, fourcc] : std::vector<std::pair<std::string, std::string>>{
           {"clip.mp4", "mp4v"}, {"clip.avi", "MJPG"}, {"clip.mkv", "XVID"}}) {
    SCOPED_TRACE(leaf);
    const Written w = write_video(d, leaf, fourcc, 9, 12.5);
    auto src = open_frame_source(w.path);
    ASSERT_EQ(src->num_frames(), 9);
    EXPECT_EQ(src->width(), 160);
    EXPECT_EQ(src->height(), 96);
    EXPECT_NEAR(src->fps(), 12.5, 1e-6);
    for (int i = 0; i < 9; ++i) {
      const at::Tensor f = src->frame(i);
      ASSERT_EQ(f.sizes(), (std::vector<int64_t>{96, 160, 3}));
      // Lossy codecs: close to its own frame, farther from its neighbours (shifted by 7 px).
      const double own = mean_abs_diff(f, w.frames[i]);
      EXPECT_LT(own, 12.0) << "frame " << i;
      if (i > 0) EXPECT_LT(own, mean_abs_diff(f, w.frames[i - 1])) << "frame " << i;
      if (i < 8) EXPECT_LT(own, mean_abs_diff(f, w.frames[i + 1])) << "frame " << i;
    }
  }
}

TEST(VideoFile, BackwardAndRandomAccessGiveTheSameFramesAsPlayback) {
  if (!can_read_video_files()) GTEST_SKIP() << "built without OpenCV videoio";
  TempDir d("access");
  const Written w = write_video(d, "clip.mp4", "mp4v", 40, 30);
  std::vector<at::Tensor> played;
  {
    auto src = open_frame_source(w.path);
    for (int i = 0; i < 40; ++i) played.push_back(src->frame(i).clone());
  }
  FrameSourceOptions o;
  o.cache_frames = 5;
  auto src = open_video_file(w.path, o);
  const DecodeStats at_open = decode_stats(*src);
  for (int i = 39; i >= 0; --i) ASSERT_TRUE(at::equal(src->frame(i), played[i])) << "reverse, frame " << i;
  const DecodeStats reverse = decode_stats(*src);
  // Backwards: one seek per run of cache_frames frames, each frame decoded about once.
  EXPECT_LE(reverse.seeks - at_open.seeks, 40 / 5 + 1);
  EXPECT_LE(reverse.decoded - at_open.decoded, 40 + 5);
  for (int i : {17, 3, 38, 38, 0, 25, 26, 27, 12, 39, 1}) {
    ASSERT_TRUE(at::equal(src->frame(i), played[i])) << "random, frame " << i;
  }
  // A loop back to the start, as LoopedFrameSource does.
  LoopedFrameSource loop(std::move(src), 100);
  for (int i = 35; i < 50; ++i) ASSERT_TRUE(at::equal(loop.frame(i), played[i % 40])) << "looped, frame " << i;
}

TEST(VideoFile, UnreadableFilesAreErrors) {
  if (!can_read_video_files()) GTEST_SKIP() << "built without OpenCV videoio";
  TempDir d("bad");
  touch(d.file("junk.mp4"), "this is not a video at all");
  std::string msg = expect_error(ErrorCode::kCorruption, [&] { open_frame_source(d.file("junk.mp4")); });
  EXPECT_NE(msg.find("junk.mp4"), std::string::npos) << msg;
  // A truncated file (the first 3 KB of a real one).
  const Written w = write_video(d, "clip.mp4", "mp4v", 10, 30);
  std::ifstream in(w.path, std::ios::binary);
  std::string bytes(3000, '\0');
  in.read(bytes.data(), 3000);
  touch(d.file("cut.mp4"), bytes);
  msg = expect_error(ErrorCode::kCorruption, [&] { open_frame_source(d.file("cut.mp4")); });
  EXPECT_NE(msg.find("cut.mp4"), std::string::npos) << msg;
  msg = expect_error(ErrorCode::kNotFound, [&] { open_frame_source(d.file("missing.mp4")); });
  EXPECT_NE(msg.find("missing.mp4"), std::string::npos) << msg;
}

// --- track outputs ---------------------------------------------------------------------

TrackedObject make_object(int64_t id, bool present, int64_t h, int64_t w, int64_t y1, int64_t y2, int64_t x1,
                          int64_t x2) {
  TrackedObject o;
  o.id = id;
  o.present = present;
  o.score = present ? 0.75f : 0.25f;
  o.mask = at::zeros({h, w}, at::TensorOptions().dtype(at::kBool));
  o.mask.slice(0, y1, y2).slice(1, x1, x2).fill_(true);
  o.area = (y2 - y1) * (x2 - x1);
  o.box = Box{static_cast<float>(x1), static_cast<float>(y1), static_cast<float>(x2), static_cast<float>(y2), true};
  return o;
}

TEST(TrackOverlay, BlendsPresentObjectsInTheirColourAndLeavesTheRest) {
  at::Tensor rgb = at::zeros({200, 300, 3}, at::TensorOptions().dtype(at::kByte)).fill_(100);
  TrackFrame f;
  f.width = 300;
  f.height = 200;
  f.objects.push_back(make_object(4, true, 200, 300, 100, 150, 100, 200));
  f.objects.push_back(make_object(9, false, 200, 300, 10, 60, 10, 60));  // absent: not drawn
  const at::Tensor out = render::draw_track_overlay(rgb, f);
  ASSERT_EQ(out.sizes(), rgb.sizes());
  const auto c = instance_color(4);  // the colour of object id 4
  for (int ch = 0; ch < 3; ++ch) {
    // Inside the mask, away from the 2-px outline: (v * 128 + c * 128 + 128) / 256.
    EXPECT_EQ(out[120][150][ch].item<int>(), (100 * 128 + c[ch] * 128 + 128) / 256) << ch;
    EXPECT_EQ(out[100][150][ch].item<int>(), c[ch]) << "outline, channel " << ch;
    EXPECT_EQ(out[149][199][ch].item<int>(), c[ch]) << "outline, channel " << ch;
    EXPECT_EQ(out[170][150][ch].item<int>(), 100) << "below the object";
    EXPECT_EQ(out[30][30][ch].item<int>(), 100) << "the absent object";
  }
  EXPECT_TRUE(at::equal(rgb, at::zeros({200, 300, 3}, at::TensorOptions().dtype(at::kByte)).fill_(100)))
      << "the input is not modified";
}

TEST(TrackJson, EntriesRoundTrip) {
  TrackFrame f;
  f.index = 17;
  f.width = 30;
  f.height = 20;
  f.objects.push_back(make_object(2, true, 20, 30, 3, 9, 4, 25));
  f.objects.push_back(make_object(5, false, 20, 30, 0, 0, 0, 0));
  f.objects.back().box = Box{};
  const std::string line = track_frame_json(f);
  EXPECT_EQ(line.find('\n'), std::string::npos) << "one line";
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["frame"], 17);
  EXPECT_EQ(j["objects"][0]["box"], nlohmann::json::array({4.0, 3.0, 25.0, 9.0}));
  EXPECT_EQ(j["objects"][0]["mask"]["counts"], encode_coco_rle(f.objects[0].mask).counts);
  const TrackFrame g = render::parse_track_frame_json(line);
  EXPECT_EQ(g.index, 17);
  EXPECT_EQ(g.width, 30);
  EXPECT_EQ(g.height, 20);
  ASSERT_EQ(g.objects.size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(g.objects[k].id, f.objects[k].id);
    EXPECT_EQ(g.objects[k].present, f.objects[k].present);
    EXPECT_EQ(g.objects[k].score, f.objects[k].score);
    EXPECT_EQ(g.objects[k].area, f.objects[k].area);
    EXPECT_EQ(g.objects[k].box.x2, f.objects[k].box.x2);
    EXPECT_TRUE(at::equal(g.objects[k].mask, f.objects[k].mask));
  }
  expect_error(ErrorCode::kCorruption, [] { render::parse_track_frame_json("{\"frame\": 1}"); });
  expect_error(ErrorCode::kCorruption, [] { render::parse_track_frame_json("not json"); });
}

TEST(TrackWriter, FramesOutOfOrderComeOutInOrder) {
  TempDir d("writer");
  const std::vector<at::Tensor> frames = make_frames(5, 64, 48);
  TrackWriterOptions o;
  o.dir = d.file("out");
  o.fps = 12;
  TrackWriter w(o, 64, 48, 5, "{\"video\": {\"num_frames\": 5}}");
  auto frame = [&](int64_t i, int64_t y) {
    TrackFrame f;
    f.index = i;
    f.width = 64;
    f.height = 48;
    f.objects.push_back(make_object(3, true, 48, 64, y, y + 10, 5, 30));
    return f;
  };
  for (int64_t i : {3, 2, 1}) w.add(frame(i, i), frames[i]);  // backwards, as reverse tracking delivers
  w.add(frame(2, 20), frames[2]);                              // delivered again: replaces
  expect_error(ErrorCode::kInvalidArgument, [&] { w.add(frame(5, 0), frames[0]); });
  int redrawn = 0;
  const std::vector<std::string> written = w.finish([&](int64_t i) {
    ++redrawn;
    return frames[i];
  });
  EXPECT_EQ(written.front(), d.file("out") + "/tracks.json");
  const nlohmann::json j = [&] {
    std::ifstream in(d.file("out/tracks.json"));
    return nlohmann::json::parse(in);
  }();
  EXPECT_EQ(j["video"]["num_frames"], 5);
  ASSERT_EQ(j["frames"].size(), 3u);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(j["frames"][k]["frame"], k + 1);
  EXPECT_EQ(j["frames"][1]["objects"][0]["box"][1], 20.0) << "the later delivery of frame 2";
  EXPECT_FALSE(fs::exists(d.file("out/.tracks.jsonl.tmp")));
  const at::Tensor png = decode_image(d.file("out/masks/3/00002.png"));
  EXPECT_TRUE(at::equal(png.select(2, 0).gt(127), make_object(3, true, 48, 64, 20, 30, 5, 30).mask));
  if (render::can_write_video_files()) {
    EXPECT_EQ(redrawn, 3) << "the overlay is redrawn in frame order";
    auto overlay = open_frame_source(d.file("out/overlay.mp4"));
    EXPECT_EQ(overlay->num_frames(), 3);
    EXPECT_NEAR(overlay->fps(), 12, 1e-6);
  } else {
    EXPECT_TRUE(fs::exists(d.file("out/overlay/00001.png")));
  }
}

}  // namespace
}  // namespace sam3rt::io
