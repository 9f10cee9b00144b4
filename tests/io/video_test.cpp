// Video input: frame-folder ordering, the folder and video-file FrameSources (pixels,
// order, backward and random access through the frame cache, frame counts of mp4 / avi /
// mkv), the LRU cache, looping, and bad input (missing paths, empty folders, garbage
// files, frames of another size). Frames are built at run time from the bedroom frames in
// tests/data/video (see PROVENANCE.md there), shifted so that every frame differs.
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

#include "io/image.h"
#include "pipeline/preprocess.h"
#include "render/video_writer.h"
#include "sam3rt/error.h"

namespace sam3rt::io {
namespace {

namespace fs = std::filesystem;

const std::string kFrames = std::string(SAM3RT_TEST_DATA) + "/video";

std::string expect_error(ErrorCode code, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << error_code_name(e.code()) << ": " << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a sam3rt::Error: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no error, expected " << error_code_name(code);
  return {};
}

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

}  // namespace
}  // namespace sam3rt::io
