// Video input: the FrameSource implementations behind sam3rt::open_frame_source.
//
//   - a folder of JPEG/PNG frames, decoded one file at a time with io::decode_image (OpenCV
//     or stb, whichever the build has);
//   - a video file read with OpenCV's FFmpeg backend (cv::VideoCapture, BGR converted to
//     RGB), only when the build has OpenCV (SAM3RT_HAVE_OPENCV); otherwise opening one is
//     Error(kUnsupported).
//
// Both keep a small LRU cache of decoded frames (FrameCache). A video file is decoded
// forwards; a request behind the decoder's position (reverse propagation, a loop back to
// the start) seeks to up to cache_frames - 1 frames before it and decodes that run into
// the cache, so walking backwards costs one seek per cache_frames frames. A request a
// little ahead skips forward by decoding; far ahead, it seeks. Memory is bounded by the
// cache, never by the video's length.
//
// LoopedFrameSource plays another source again and again (benchmarks of long videos).
//
// Thread-safety: a source is not thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sam3rt/video.h"

namespace sam3rt::io {

// True when the build can read video files (OpenCV's videoio); frame folders always work.
bool can_read_video_files();

// The frame files of `dir` in playback order: names ending .jpg/.jpeg/.png (any case),
// regular files only; numerically by stem when every stem is a decimal integer
// (leading zeros allowed; ties by name), else byte-wise lexicographically. Throws
// Error(kNotFound) when `dir` is not a folder or holds no frame files.
std::vector<std::string> list_frame_files(const std::string& dir);

// Least-recently-used cache of decoded frames, keyed by frame index.
class FrameCache {
 public:
  explicit FrameCache(int capacity);
  int capacity() const { return capacity_; }
  // The cached frame or an undefined tensor; a hit makes it the most recent.
  at::Tensor get(int64_t index);
  // Inserts (or refreshes) a frame, evicting the least recently used beyond capacity.
  void put(int64_t index, at::Tensor frame);
  bool contains(int64_t index) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int64_t index;
    at::Tensor frame;
    uint64_t used;
  };
  int capacity_;
  uint64_t tick_ = 0;
  std::vector<Entry> entries_;
};

// A folder of frames (list_frame_files). The size is the first frame's; every frame must
// have it.
std::unique_ptr<FrameSource> open_frame_folder(const std::string& dir, const FrameSourceOptions& options = {});

// A video file through OpenCV's FFmpeg backend. Error(kUnsupported) without OpenCV.
std::unique_ptr<FrameSource> open_video_file(const std::string& path, const FrameSourceOptions& options = {});

// frame(i) = inner->frame(i mod inner->num_frames()), for num_frames frames.
class LoopedFrameSource : public FrameSource {
 public:
  LoopedFrameSource(std::unique_ptr<FrameSource> inner, int64_t num_frames);
  int64_t num_frames() const override { return num_frames_; }
  int64_t width() const override { return inner_->width(); }
  int64_t height() const override { return inner_->height(); }
  double fps() const override { return inner_->fps(); }
  std::string name() const override;
  at::Tensor frame(int64_t index) override;

 private:
  std::unique_ptr<FrameSource> inner_;
  int64_t num_frames_;
};

// Counters of a source's decoder, for tests and benchmarks (file sources only; zero for
// folders).
struct DecodeStats {
  int64_t decoded = 0;  // frames decoded (read or skipped over)
  int64_t seeks = 0;    // repositionings of the decoder
};
// The stats of a source opened by open_video_file / open_frame_folder (folders: decoded
// counts files read); zeros for any other source.
DecodeStats decode_stats(const FrameSource& source);

}  // namespace sam3rt::io
