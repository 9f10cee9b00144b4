// Outputs of video tracking: overlay video, per-object mask PNGs and tracks.json.
//
// TrackWriter streams: each frame's masks are written when the frame arrives and its
// tracks.json entry goes to a temporary file, so memory does not grow with the video (an
// index of 16 bytes per frame aside). finish() assembles tracks.json with the frames in
// index order. The overlay video is written while frames arrive in increasing order
// (forward propagation); once a frame arrives out of order (reverse propagation) the
// overlay is redrawn at finish() in index order from the recorded masks and the frames.
//
// Layout of the output folder:
//   masks/<object id>/<frame, 5 digits>.png   8-bit gray, 255 = object (every object on
//                                             every delivered frame; empty when absent)
//   overlay.mp4                               MPEG-4 Part 2 (mp4v) through OpenCV's FFmpeg
//                                             backend; without OpenCV overlay/<frame>.png
//   tracks.json                               see track_frame_json and TrackWriter
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

// One frame's tracks.json entry, compact, on one line:
//   {"frame": 3, "objects": [{"id": 1, "present": true, "score": 0.97,
//     "box": [x1, y1, x2, y2], "area": 1234, "mask": {"size": [h, w], "counts": "..."}}]}
// (mask = COCO RLE; box in pixel corners).
std::string track_frame_json(const TrackFrame& frame);

// tracks.json entry -> TrackFrame (masks decoded from their RLE). Error(kCorruption) for a
// malformed entry.
TrackFrame parse_track_frame_json(const std::string& json);

struct TrackWriterOptions {
  std::string dir;           // created if missing
  bool mask_pngs = true;     // masks/<id>/<frame>.png
  bool overlay = true;       // overlay.mp4 (overlay/<frame>.png without OpenCV)
  double fps = 0;            // of the overlay video; <= 0: 30
};

class TrackWriter {
 public:
  // num_frames: the video's length (frames outside [0, num_frames) are rejected).
  // header_json: a JSON object whose members open tracks.json (e.g. "video", "model",
  // "prompts"); "frames" follows them.
  TrackWriter(const TrackWriterOptions& options, int64_t width, int64_t height, int64_t num_frames,
              const std::string& header_json);
  ~TrackWriter();  // removes the temporary file if finish() was not reached
  TrackWriter(const TrackWriter&) = delete;
  TrackWriter& operator=(const TrackWriter&) = delete;

  // One tracked frame and its pixels (rgb [H, W, 3] uint8, for the overlay). A frame
  // delivered again replaces its earlier entry in tracks.json.
  void add(const TrackFrame& frame, const at::Tensor& rgb);

  // Writes tracks.json ({header..., trailer..., "frames": [entries in frame order]}) and
  // completes the overlay; `frames` supplies frame pixels when the overlay must be redrawn
  // in order. trailer_json: a JSON object of members known only now (e.g. the objects a
  // text prompt found). Returns the paths written (tracks.json, the overlay, the masks
  // folder).
  std::vector<std::string> finish(const std::function<at::Tensor(int64_t)>& frames,
                                  const std::string& trailer_json = "");

  int64_t frames_added() const { return added_; }

 private:
  void write_overlay_frame(const TrackFrame& frame, const at::Tensor& rgb);

  TrackWriterOptions options_;
  int64_t width_, height_, num_frames_;
  std::string header_json_;
  std::string tmp_path_;
  std::ofstream tmp_;
  int64_t tmp_size_ = 0;
  // Per frame: offset and length of its latest entry in the temporary file (length 0: none).
  std::vector<std::pair<int64_t, int64_t>> index_;
  std::unique_ptr<VideoFileWriter> overlay_;
  bool overlay_in_order_ = true;
  int64_t last_frame_ = -1;
  int64_t added_ = 0;
  bool finished_ = false;
};

}  // namespace sam3rt::render
