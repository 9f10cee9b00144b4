#include "render/video_writer.h"

#include <ATen/ops/tensor.h>
#include <ATen/ops/where.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#ifdef SAM3RT_HAVE_OPENCV
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/videoio/registry.hpp>
#endif

#include "io/image.h"
#include "io/video.h"
#include "render/coco_rle.h"
#include "sam3rt/image.h"
#include "sam3rt/render.h"
#include "sam3rt/error.h"

namespace sam3rt {
namespace fs = std::filesystem;

namespace {

constexpr double kDefaultFps = 30.0;

std::string frame_name(int64_t index, const char* ext) {
  char name[40];
  std::snprintf(name, sizeof(name), "%05lld%s", static_cast<long long>(index), ext);
  return name;
}

void create_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  SAM3RT_CHECK(!ec && fs::is_directory(dir), kIo, dir.string(), ": cannot create the folder",
               ec ? " (" + ec.message() + ")" : std::string());
}

}  // namespace
}  // namespace sam3rt

namespace sam3rt::render {

namespace fs = std::filesystem;


// --- VideoFileWriter -----------------------------------------------------------------

// What reads video files (OpenCV's FFmpeg backend) writes them.
bool can_write_video_files() { return io::can_read_video_files(); }

#ifdef SAM3RT_HAVE_OPENCV
struct VideoFileWriter::Impl {
  cv::VideoWriter writer;
  cv::Mat bgr;
};
#else
struct VideoFileWriter::Impl {};
#endif

VideoFileWriter::VideoFileWriter(const std::string& path, double fps, int64_t width, int64_t height,
                                 const std::string& fourcc)
    : path_(path), width_(width), height_(height) {
  SAM3RT_CHECK(width > 0 && height > 0, kInvalidArgument, path, ": a video needs a positive size, got ", width, "x",
               height);
  SAM3RT_CHECK(fourcc.size() == 4, kInvalidArgument, path, ": a codec fourcc has 4 characters, got '", fourcc, "'");
#ifdef SAM3RT_HAVE_OPENCV
  SAM3RT_CHECK(can_write_video_files(), kUnsupported, path, ": this OpenCV has no FFmpeg backend to write videos");
  impl_ = std::make_unique<Impl>();
  bool ok = false;
  try {
    ok = impl_->writer.open(path, cv::CAP_FFMPEG, cv::VideoWriter::fourcc(fourcc[0], fourcc[1], fourcc[2], fourcc[3]),
                            fps > 0 ? fps : kDefaultFps, cv::Size(static_cast<int>(width), static_cast<int>(height)));
  } catch (const cv::Exception& e) {
    SAM3RT_FAIL(kIo, path, ": cannot write a video there (", e.what(), ")");
  }
  SAM3RT_CHECK(ok && impl_->writer.isOpened(), kIo, path, ": cannot write a ", fourcc, " video there");
#else
  (void)fps;
  SAM3RT_FAIL(kUnsupported, path, ": writing video files needs the OpenCV build (SAM3RT_WITH_OPENCV=ON)");
#endif
}

VideoFileWriter::~VideoFileWriter() {
  try {
    close();
  } catch (...) {
  }
}

void VideoFileWriter::write(const at::Tensor& rgb) {
  SAM3RT_CHECK(rgb.defined() && rgb.dim() == 3 && rgb.size(0) == height_ && rgb.size(1) == width_ &&
                   rgb.size(2) == 3 && rgb.scalar_type() == at::kByte,
               kInvalidArgument, path_, ": frames must be uint8 [", height_, ", ", width_, ", 3]");
#ifdef SAM3RT_HAVE_OPENCV
  SAM3RT_CHECK(impl_ && impl_->writer.isOpened(), kIo, path_, ": the video is closed");
  at::Tensor c = rgb.cpu().contiguous();
  const cv::Mat src(static_cast<int>(height_), static_cast<int>(width_), CV_8UC3, c.data_ptr<uint8_t>());
  cv::cvtColor(src, impl_->bgr, cv::COLOR_RGB2BGR);
  try {
    impl_->writer.write(impl_->bgr);
  } catch (const cv::Exception& e) {
    SAM3RT_FAIL(kIo, path_, ": writing frame ", written_, " failed (", e.what(), ")");
  }
  ++written_;
#endif
}

int64_t VideoFileWriter::close() {
#ifdef SAM3RT_HAVE_OPENCV
  if (impl_ && impl_->writer.isOpened()) impl_->writer.release();
#endif
  return written_;
}

// --- drawing and JSON ------------------------------------------------------------------

at::Tensor draw_track_overlay(const at::Tensor& rgb, const TrackFrame& frame, float alpha) {
  SAM3RT_CHECK(rgb.defined() && rgb.dim() == 3 && rgb.size(2) == 3 && rgb.scalar_type() == at::kByte,
               kInvalidArgument, "overlay needs an [H, W, 3] uint8 image");
  const int64_t H = rgb.size(0), W = rgb.size(1);
  // In 8-bit integers over each object's box only, so that a frame's drawing allocates little
  // (full-frame float temporaries, freed and re-made every frame, fragment the heap of a long
  // run): out = (v * (256 - a) + c * a + 128) / 256 with a = alpha in 1/256ths.
  at::Tensor out = rgb.cpu().contiguous().clone();
  const int64_t a = std::clamp<int64_t>(static_cast<int64_t>(std::lround(alpha * 256.0f)), 0, 256);
  for (size_t i = 0; i < frame.objects.size(); ++i) {
    const TrackedObject& o = frame.objects[i];
    if (!o.present || o.area == 0 || !o.mask.defined() || o.mask.size(0) != H || o.mask.size(1) != W) continue;
    const int64_t x1 = std::clamp<int64_t>(static_cast<int64_t>(o.box.x1), 0, W);
    const int64_t y1 = std::clamp<int64_t>(static_cast<int64_t>(o.box.y1), 0, H);
    const int64_t x2 = std::clamp<int64_t>(static_cast<int64_t>(o.box.x2), x1, W);
    const int64_t y2 = std::clamp<int64_t>(static_cast<int64_t>(o.box.y2), y1, H);
    if (x2 == x1 || y2 == y1) continue;
    const auto c = instance_color(static_cast<size_t>(o.id));
    const at::Tensor tint =
        at::tensor(std::vector<int32_t>{c[0] * static_cast<int32_t>(a) + 128, c[1] * static_cast<int32_t>(a) + 128,
                                        c[2] * static_cast<int32_t>(a) + 128},
                   at::TensorOptions().dtype(at::kInt))
            .view({1, 1, 3});
    at::Tensor roi = out.slice(0, y1, y2).slice(1, x1, x2);  // view into out
    const at::Tensor blended = roi.to(at::kInt).mul(256 - a).add(tint).div(256, "floor").to(at::kByte);
    roi.copy_(at::where(o.mask.cpu().slice(0, y1, y2).slice(1, x1, x2).unsqueeze(-1), blended, roi));
  }
  const int64_t t = std::max<int64_t>(1, std::min<int64_t>(2, std::min(H, W) / 100));
  for (size_t i = 0; i < frame.objects.size(); ++i) {
    const TrackedObject& o = frame.objects[i];
    if (!o.present || o.area == 0) continue;
    const auto c = instance_color(static_cast<size_t>(o.id));
    const at::Tensor color =
        at::tensor(std::vector<uint8_t>{c[0], c[1], c[2]}, at::TensorOptions().dtype(at::kByte)).view({1, 1, 3});
    const int64_t x1 = std::clamp<int64_t>(static_cast<int64_t>(o.box.x1), 0, W - 1);
    const int64_t y1 = std::clamp<int64_t>(static_cast<int64_t>(o.box.y1), 0, H - 1);
    const int64_t x2 = std::clamp<int64_t>(static_cast<int64_t>(o.box.x2) - 1, 0, W - 1);
    const int64_t y2 = std::clamp<int64_t>(static_cast<int64_t>(o.box.y2) - 1, 0, H - 1);
    if (x2 < x1 || y2 < y1) continue;
    auto fill = [&](int64_t ya, int64_t yb, int64_t xa, int64_t xb) {
      at::Tensor r = out.slice(0, ya, yb).slice(1, xa, xb);
      r.copy_(color.expand(r.sizes()));
    };
    fill(y1, std::min(y1 + t, y2 + 1), x1, x2 + 1);
    fill(std::max(y1, y2 - t + 1), y2 + 1, x1, x2 + 1);
    fill(y1, y2 + 1, x1, std::min(x1 + t, x2 + 1));
    fill(y1, y2 + 1, std::max(x1, x2 - t + 1), x2 + 1);
  }
#ifdef SAM3RT_HAVE_OPENCV
  cv::Mat mat(static_cast<int>(H), static_cast<int>(W), CV_8UC3, out.data_ptr<uint8_t>());
  const double scale = std::max(0.4, std::min(H, W) / 900.0);
  for (size_t i = 0; i < frame.objects.size(); ++i) {
    const TrackedObject& o = frame.objects[i];
    if (!o.present || o.area == 0) continue;
    char label[64];
    std::snprintf(label, sizeof(label), "%lld %.2f", static_cast<long long>(o.id), o.score);
    const auto c = instance_color(static_cast<size_t>(o.id));
    int baseline = 0;
    const cv::Size size = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline);
    const int x = std::clamp(static_cast<int>(o.box.x1), 0, std::max(0, static_cast<int>(W) - size.width));
    const int y = std::clamp(static_cast<int>(o.box.y1) - 4, size.height + 2, std::max(size.height + 2, static_cast<int>(H) - 2));
    cv::rectangle(mat, cv::Point(x, y - size.height - 2), cv::Point(x + size.width + 2, y + baseline),
                  cv::Scalar(c[0], c[1], c[2]), cv::FILLED);
    cv::putText(mat, label, cv::Point(x + 1, y), cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
#endif
  return out;
}

TrackFrame parse_track_frame_json(const std::string& json) {
  TrackFrame f;
  try {
    const nlohmann::json j = nlohmann::json::parse(json);
    f.index = j.at("frame").get<int64_t>();
    for (const auto& e : j.at("objects")) {
      TrackedObject o;
      o.id = e.at("id").get<int64_t>();
      o.present = e.at("present").get<bool>();
      o.score = e.at("score").get<float>();
      const auto& b = e.at("box");
      SAM3RT_CHECK(b.is_array() && b.size() == 4, kCorruption, "a track box must have 4 numbers");
      o.box = Box{b[0].get<float>(), b[1].get<float>(), b[2].get<float>(), b[3].get<float>(), true};
      o.area = e.at("area").get<int64_t>();
      if (e.contains("mask")) {
        const auto& m = e.at("mask");
        CocoRle rle;
        rle.height = m.at("size").at(0).get<int64_t>();
        rle.width = m.at("size").at(1).get<int64_t>();
        rle.counts = m.at("counts").get<std::string>();
        o.mask = decode_coco_rle(rle);
        f.height = rle.height;
        f.width = rle.width;
      }
      f.objects.push_back(std::move(o));
    }
  } catch (const nlohmann::json::exception& e) {
    SAM3RT_FAIL(kCorruption, "malformed track entry: ", e.what());
  }
  return f;
}

}  // namespace sam3rt::render

// The public writer (sam3rt/track_writer.h).
namespace sam3rt {

// --- TrackWriter -------------------------------------------------------------------------

struct TrackWriter::State {
  State(const TrackWriterOptions& options, int64_t width, int64_t height, int64_t num_frames,
        const std::string& header_json);
  ~State();
  void write_overlay_frame(const TrackFrame& frame, const at::Tensor& rgb);
  void add(const TrackFrame& frame, const at::Tensor& rgb);
  std::vector<std::string> finish(const std::function<at::Tensor(int64_t)>& frames, const std::string& trailer_json);

  TrackWriterOptions options_;
  int64_t width_, height_, num_frames_;
  std::string header_json_;
  std::string tmp_path_;
  std::ofstream tmp_;
  int64_t tmp_size_ = 0;
  bool tmp_failed_ = false;  // a write failed: the entries indexed before it are intact
  // Per frame: offset and length of its latest entry in the temporary file (length 0: none).
  std::vector<std::pair<int64_t, int64_t>> index_;
  std::unique_ptr<render::VideoFileWriter> overlay_;
  bool overlay_in_order_ = true;
  int64_t last_frame_ = -1;
  int64_t added_ = 0;
  bool finished_ = false;
};

TrackWriter::State::State(const TrackWriterOptions& options, int64_t width, int64_t height, int64_t num_frames,
                          const std::string& header_json)
    : options_(options), width_(width), height_(height), num_frames_(num_frames), header_json_(header_json) {
  SAM3RT_CHECK(!options.dir.empty(), kInvalidArgument, "no output folder given");
  SAM3RT_CHECK(num_frames > 0 && width > 0 && height > 0, kInvalidArgument, "TrackWriter needs a non-empty video");
  nlohmann::ordered_json header;
  try {
    header = header_json.empty() ? nlohmann::ordered_json::object() : nlohmann::ordered_json::parse(header_json);
  } catch (const nlohmann::json::exception& e) {
    SAM3RT_FAIL(kInvalidArgument, "the tracks.json header is not JSON: ", e.what());
  }
  SAM3RT_CHECK(header.is_object() && !header.contains("frames"), kInvalidArgument,
               "the tracks.json header must be a JSON object without \"frames\"");
  const fs::path dir(options.dir);
  create_dirs(dir);
  index_.assign(static_cast<size_t>(num_frames), {0, 0});
  tmp_path_ = (dir / ".tracks.jsonl.tmp").string();
  tmp_.open(tmp_path_, std::ios::binary | std::ios::trunc);
  SAM3RT_CHECK(tmp_.good(), kIo, tmp_path_, ": cannot write");
  if (options.mask_pngs) create_dirs(dir / "masks");
  if (options.overlay && !render::can_write_video_files()) create_dirs(dir / "overlay");
}

TrackWriter::State::~State() {
  if (tmp_.is_open()) tmp_.close();
  if (!finished_ && !tmp_path_.empty()) {
    std::error_code ec;
    fs::remove(tmp_path_, ec);
  }
}

void TrackWriter::State::write_overlay_frame(const TrackFrame& frame, const at::Tensor& rgb) {
  const at::Tensor image = render::draw_track_overlay(rgb, frame);
  if (!render::can_write_video_files()) {
    write_png((fs::path(options_.dir) / "overlay" / frame_name(frame.index, ".png")).string(), image);
    return;
  }
  if (!overlay_) {
    overlay_ = std::make_unique<render::VideoFileWriter>((fs::path(options_.dir) / "overlay.mp4").string(),
                                                 options_.fps > 0 ? options_.fps : kDefaultFps, width_, height_);
  }
  overlay_->write(image);
}

void TrackWriter::State::add(const TrackFrame& frame, const at::Tensor& rgb) {
  SAM3RT_CHECK(!finished_, kInvalidArgument, "TrackWriter: add() after finish()");
  SAM3RT_CHECK(frame.index >= 0 && frame.index < num_frames_, kInvalidArgument, "TrackWriter: frame ", frame.index,
               " is outside the video (", num_frames_, " frames)");
  SAM3RT_CHECK(frame.width == width_ && frame.height == height_, kInvalidArgument, "TrackWriter: frame ", frame.index,
               " is ", frame.width, "x", frame.height, ", the video ", width_, "x", height_);
  const fs::path dir(options_.dir);
  if (options_.mask_pngs) {
    for (const TrackedObject& o : frame.objects) {
      const fs::path obj_dir = dir / "masks" / std::to_string(o.id);
      if (!fs::is_directory(obj_dir)) create_dirs(obj_dir);
      write_png((obj_dir / frame_name(frame.index, ".png")).string(), o.mask.to(at::kByte).mul(255));
    }
  }
  const std::string entry = track_frame_json(frame);
  // Flushed per frame: an entry the index records is on disk, so that after a failed
  // write (a full disk) finish() can still assemble every frame recorded before it.
  tmp_ << entry << '\n';
  tmp_.flush();
  if (!tmp_.good()) {
    tmp_failed_ = true;
    SAM3RT_FAIL(kIo, tmp_path_, ": write failed (disk full?)");
  }
  index_[static_cast<size_t>(frame.index)] = {tmp_size_, static_cast<int64_t>(entry.size())};
  tmp_size_ += static_cast<int64_t>(entry.size()) + 1;

  if (options_.overlay) {
    if (overlay_in_order_ && frame.index <= last_frame_ && render::can_write_video_files()) {
      // Out of order: the video is redrawn in frame order at finish().
      overlay_in_order_ = false;
      if (overlay_) overlay_->close();
      overlay_.reset();
    }
    if (overlay_in_order_ || !render::can_write_video_files()) write_overlay_frame(frame, rgb);
  }
  last_frame_ = std::max(last_frame_, frame.index);
  ++added_;
}

std::vector<std::string> TrackWriter::State::finish(const std::function<at::Tensor(int64_t)>& frames,
                                                    const std::string& trailer_json) {
  SAM3RT_CHECK(!finished_, kInvalidArgument, "TrackWriter: finish() called twice");
  nlohmann::ordered_json trailer = nlohmann::ordered_json::object();
  try {
    if (!trailer_json.empty()) trailer = nlohmann::ordered_json::parse(trailer_json);
  } catch (const nlohmann::json::exception& e) {
    SAM3RT_FAIL(kInvalidArgument, "the tracks.json trailer is not JSON: ", e.what());
  }
  SAM3RT_CHECK(trailer.is_object() && !trailer.contains("frames"), kInvalidArgument,
               "the tracks.json trailer must be a JSON object without \"frames\"");
  tmp_.close();
  SAM3RT_CHECK(tmp_failed_ || !tmp_.fail(), kIo, tmp_path_, ": write failed");
  const fs::path dir(options_.dir);
  std::vector<std::string> written;

  std::ifstream in(tmp_path_, std::ios::binary);
  SAM3RT_CHECK(in.good(), kIo, tmp_path_, ": cannot read back");
  auto entry = [&](int64_t i) {
    const auto [offset, length] = index_[static_cast<size_t>(i)];
    std::string s(static_cast<size_t>(length), '\0');
    in.seekg(offset);
    in.read(s.data(), length);
    SAM3RT_CHECK(in.good(), kIo, tmp_path_, ": cannot read back frame ", i);
    return s;
  };

  // The overlay in frame order, when frames came out of order.
  if (options_.overlay && !overlay_in_order_) {
    overlay_.reset();
    for (int64_t i = 0; i < num_frames_; ++i) {
      if (index_[static_cast<size_t>(i)].second == 0) continue;
      TrackFrame f = render::parse_track_frame_json(entry(i));
      f.width = width_;
      f.height = height_;
      write_overlay_frame(f, frames(i));
    }
  }
  if (overlay_) {
    overlay_->close();
    written.push_back(overlay_->path());
    overlay_.reset();
  } else if (options_.overlay && added_ > 0) {
    written.push_back((dir / "overlay").string() + "/");
  }

  // Written beside and renamed into place: tracks.json is whole or absent, never cut.
  const fs::path json_path = dir / "tracks.json";
  const fs::path part_path = dir / "tracks.json.part";
  std::ofstream out(part_path, std::ios::binary | std::ios::trunc);
  SAM3RT_CHECK(out.good(), kIo, json_path.string(), ": cannot write");
  nlohmann::ordered_json header =
      header_json_.empty() ? nlohmann::ordered_json::object() : nlohmann::ordered_json::parse(header_json_);
  for (auto it = trailer.begin(); it != trailer.end(); ++it) header[it.key()] = it.value();
  out << "{\n";
  for (auto it = header.begin(); it != header.end(); ++it) {
    out << "  " << nlohmann::ordered_json(it.key()).dump() << ": " << it.value().dump() << ",\n";
  }
  out << "  \"frames\": [";
  bool first = true;
  for (int64_t i = 0; i < num_frames_; ++i) {
    if (index_[static_cast<size_t>(i)].second == 0) continue;
    out << (first ? "\n    " : ",\n    ") << entry(i);
    first = false;
  }
  out << (first ? "]\n}\n" : "\n  ]\n}\n");
  out.close();
  std::error_code rename_error;
  if (!out.fail()) fs::rename(part_path, json_path, rename_error);
  if (out.fail() || rename_error) {
    std::error_code ignored;
    fs::remove(part_path, ignored);
    SAM3RT_FAIL(kIo, json_path.string(), ": write failed",
                rename_error ? " (" + rename_error.message() + ")" : std::string(" (disk full?)"));
  }
  written.insert(written.begin(), json_path.string());
  if (options_.mask_pngs) written.push_back((dir / "masks").string() + "/");

  in.close();
  std::error_code ec;
  fs::remove(tmp_path_, ec);
  finished_ = true;
  return written;
}

TrackWriter::TrackWriter(const TrackWriterOptions& options, int64_t width, int64_t height, int64_t num_frames,
                         const std::string& header_json)
    : state_(std::make_unique<State>(options, width, height, num_frames, header_json)) {}
TrackWriter::~TrackWriter() = default;
void TrackWriter::add(const TrackFrame& frame, const at::Tensor& rgb) { state_->add(frame, rgb); }
std::vector<std::string> TrackWriter::finish(const std::function<at::Tensor(int64_t)>& frames,
                                             const std::string& trailer_json) {
  return state_->finish(frames, trailer_json);
}
int64_t TrackWriter::frames_added() const { return state_->added_; }

}  // namespace sam3rt
