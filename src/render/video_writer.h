// The video pieces behind sam3rt/track_writer.h: an overlay video writer (OpenCV's FFmpeg
// backend), the per-frame overlay drawing and tracks.json entries read back.
//
// Thread-safety: not thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sam3rt/render.h"
#include "sam3rt/track_writer.h"
#include "sam3rt/video.h"

namespace sam3rt::render {

// True when VideoFileWriter can write (the build has OpenCV's videoio with FFmpeg).
bool can_write_video_files();

// A video writer of RGB uint8 frames through OpenCV's FFmpeg backend: fourcc "mp4v"
// (MPEG-4 Part 2, for .mp4) by default; e.g. "MJPG" for .avi, "XVID" for .mkv.
// Error(kUnsupported) without OpenCV, Error(kIo) naming the path when the file cannot be
// opened or written (an unknown container or codec included).
class VideoFileWriter {
 public:
  VideoFileWriter(const std::string& path, double fps, int64_t width, int64_t height,
                  const std::string& fourcc = "mp4v");
  ~VideoFileWriter();
  VideoFileWriter(const VideoFileWriter&) = delete;
  VideoFileWriter& operator=(const VideoFileWriter&) = delete;
  // rgb [height, width, 3] uint8.
  void write(const at::Tensor& rgb);
  // Flushes and closes (also done by the destructor). Returns the frames written.
  int64_t close();
  const std::string& path() const { return path_; }

 private:
  struct Impl;
  std::string path_;
  int64_t width_, height_, written_ = 0;
  std::unique_ptr<Impl> impl_;
};

// Each present object blended over the frame (within its box) in the colour of its id
// (render::instance_color(id): the same object keeps its colour on every frame), with the
// box outline and an "<id> <score>" label (labels need OpenCV). Absent objects are not
// drawn.
at::Tensor draw_track_overlay(const at::Tensor& rgb, const TrackFrame& frame, float alpha = 0.5f);

// One frame's tracks.json entry: track_frame_json (sam3rt/render.h).
using ::sam3rt::track_frame_json;

// tracks.json entry -> TrackFrame (masks decoded from their RLE). Error(kCorruption) for a
// malformed entry.
TrackFrame parse_track_frame_json(const std::string& json);

}  // namespace sam3rt::render
