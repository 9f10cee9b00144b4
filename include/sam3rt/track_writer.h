// Outputs of video tracking, as `sam3rt track` writes them: per-object mask PNGs, an
// overlay video and tracks.json.
//
// TrackWriter streams: each frame's masks are written when the frame arrives and its
// tracks.json entry (render.h, track_frame_json) goes to a temporary file, so memory does
// not grow with the video (an index of 16 bytes per frame aside). finish() assembles
// tracks.json with the frames in index order. The overlay video is written while frames
// arrive in increasing order (forward propagation); once a frame arrives out of order
// (reverse propagation) the overlay is redrawn at finish() in index order.
//
// Layout of the output folder:
//   masks/<object id>/<frame, 5 digits>.png   8-bit gray, 255 = object (every object on
//                                             every delivered frame; empty when absent)
//   overlay.mp4                               MPEG-4 Part 2 (mp4v) through OpenCV's FFmpeg
//                                             backend; without OpenCV overlay/<frame>.png
//   tracks.json                               {header..., trailer..., "frames": [entries]}
//
// Thread-safety: not thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sam3rt/video.h"

namespace sam3rt {

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
  // "prompts"); "frames" follows them. Throws Error(kIo) when the folder cannot be made,
  // Error(kInvalidArgument) for a header that is not a JSON object.
  TrackWriter(const TrackWriterOptions& options, int64_t width, int64_t height, int64_t num_frames,
              const std::string& header_json);
  ~TrackWriter();  // removes the temporary file if finish() was not reached
  TrackWriter(const TrackWriter&) = delete;
  TrackWriter& operator=(const TrackWriter&) = delete;

  // One tracked frame and its pixels (rgb [H, W, 3] uint8, for the overlay). A frame
  // delivered again replaces its earlier entry in tracks.json.
  void add(const TrackFrame& frame, const at::Tensor& rgb);

  // Writes tracks.json and completes the overlay; `frames` supplies frame pixels when the
  // overlay must be redrawn in order. trailer_json: a JSON object of members known only
  // now (e.g. the objects a text prompt found). Returns the paths written (tracks.json,
  // the overlay, the masks folder).
  std::vector<std::string> finish(const std::function<at::Tensor(int64_t)>& frames,
                                  const std::string& trailer_json = "");

  int64_t frames_added() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace sam3rt
