#include "io/video.h"

#include <ATen/ops/empty.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

#ifdef SAM3RT_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/videoio/registry.hpp>
#endif

#include "io/image.h"
#include "sam3rt/error.h"

namespace sam3rt::io {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_frame_file(const fs::path& p) {
  const std::string ext = lower(p.extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Decimal strings by value, of any length: without leading zeros, shorter is smaller.
bool numeric_less(const std::string& a, const std::string& b) {
  const auto strip = [](const std::string& s) {
    const size_t nz = s.find_first_not_of('0');
    return nz == std::string::npos ? std::string() : s.substr(nz);
  };
  const std::string x = strip(a), y = strip(b);
  if (x.size() != y.size()) return x.size() < y.size();
  return x < y;
}

void check_index(const FrameSource& s, int64_t index) {
  SAM3RT_CHECK(index >= 0 && index < s.num_frames(), kInvalidArgument, s.name(), ": frame ", index,
               " is outside the video (", s.num_frames(), " frames, 0..", s.num_frames() - 1, ")");
}

// Sources that count their decoding work (decode_stats).
class CountingSource : public FrameSource {
 public:
  DecodeStats stats;
};

class FolderSource : public CountingSource {
 public:
  FolderSource(const std::string& dir, const FrameSourceOptions& options)
      : dir_(dir), files_(list_frame_files(dir)), cache_(options.cache_frames) {
    const at::Tensor first = decode_image(files_[0]);
    ++stats.decoded;
    height_ = first.size(0);
    width_ = first.size(1);
    cache_.put(0, first);
  }
  int64_t num_frames() const override { return static_cast<int64_t>(files_.size()); }
  int64_t width() const override { return width_; }
  int64_t height() const override { return height_; }
  double fps() const override { return 0; }
  std::string name() const override { return dir_; }
  at::Tensor frame(int64_t index) override {
    check_index(*this, index);
    at::Tensor f = cache_.get(index);
    if (f.defined()) return f;
    try {
      f = decode_image(files_[index]);
    } catch (const Error& e) {
      throw Error(e.code(), "frame " + std::to_string(index) + " of " + dir_ + ": " + e.what());
    }
    ++stats.decoded;
    SAM3RT_CHECK(f.size(0) == height_ && f.size(1) == width_, kCorruption, files_[index], ": frame ", index, " is ",
                 f.size(1), "x", f.size(0), " but the video (its first frame) is ", width_, "x", height_);
    cache_.put(index, f);
    return f;
  }

 private:
  std::string dir_;
  std::vector<std::string> files_;
  FrameCache cache_;
  int64_t width_ = 0, height_ = 0;
};

#ifdef SAM3RT_HAVE_OPENCV

// Decoding ahead is cheaper than a seek (which decodes from the previous key frame) for
// gaps up to about this many frames.
constexpr int64_t kMaxForwardSkip = 64;

class CaptureSource : public CountingSource {
 public:
  CaptureSource(const std::string& path, const FrameSourceOptions& options) : path_(path), cache_(options.cache_frames) {
    SAM3RT_CHECK(cv::videoio_registry::hasBackend(cv::CAP_FFMPEG), kUnsupported, path,
                 ": this OpenCV has no FFmpeg backend to read video files; pass a folder of JPEG/PNG frames");
    bool opened = false;
    try {
      opened = cap_.open(path, cv::CAP_FFMPEG);
    } catch (const cv::Exception& e) {
      SAM3RT_FAIL(kCorruption, path, ": cannot be opened as a video (", e.what(), ")");
    }
    SAM3RT_CHECK(opened && cap_.isOpened(), kCorruption, path,
                 ": not a video OpenCV's FFmpeg backend can read (unknown format or a damaged file)");
    fps_ = cap_.get(cv::CAP_PROP_FPS);
    if (!(fps_ > 0 && fps_ < 1e4)) fps_ = 0;
    const double declared = cap_.get(cv::CAP_PROP_FRAME_COUNT);
    // The first frame gives the size and proves the stream decodes.
    cv::Mat m;
    SAM3RT_CHECK(read(m), kCorruption, path, ": the video has no decodable frame");
    height_ = m.rows;
    width_ = m.cols;
    SAM3RT_CHECK(width_ > 0 && height_ > 0, kCorruption, path, ": the video has an empty first frame");
    cache_.put(0, to_rgb(m, 0));
    next_ = 1;
    count_ = declared >= 1 && declared < 1e9 ? static_cast<int64_t>(declared + 0.5) : 0;
    // Containers may overstate the count (it is often derived from the duration): confirm
    // that the last declared frame decodes, else count by decoding.
    if (count_ > 1) {
      bool ok = false;
      try {
        seek(count_ - 1);
        ok = read(m) && m.rows == height_ && m.cols == width_;
      } catch (const Error&) {
        ok = false;
      }
      if (ok) {
        cache_.put(count_ - 1, to_rgb(m, count_ - 1));
        next_ = count_;
      } else {
        count_ = 0;
      }
    }
    if (count_ <= 0) count_ = count_by_decoding();
  }

  int64_t num_frames() const override { return count_; }
  int64_t width() const override { return width_; }
  int64_t height() const override { return height_; }
  double fps() const override { return fps_; }
  std::string name() const override { return path_; }

  at::Tensor frame(int64_t index) override {
    check_index(*this, index);
    at::Tensor f = cache_.get(index);
    if (f.defined()) return f;
    const int64_t run = cache_.capacity();
    if (index < next_) {
      seek(std::max<int64_t>(0, index - run + 1));  // backwards: decode a run ending at index
    } else if (index - next_ > kMaxForwardSkip) {
      seek(index);
    }
    cv::Mat m;
    for (int64_t j = next_; j <= index; ++j) {
      const bool keep = j > index - run;
      const bool ok = keep ? read(m) : grab();
      SAM3RT_CHECK(ok, kCorruption, path_, ": frame ", j, " of ", count_, " cannot be decoded");
      if (keep) {
        SAM3RT_CHECK(m.rows == height_ && m.cols == width_, kCorruption, path_, ": frame ", j, " is ", m.cols, "x",
                     m.rows, " but the video is ", width_, "x", height_);
        f = to_rgb(m, j);
        cache_.put(j, f);
      }
    }
    return f;
  }

 private:
  bool read(cv::Mat& m) {
    bool ok = false;
    try {
      ok = cap_.read(m) && !m.empty();
    } catch (const cv::Exception&) {
      ok = false;
    }
    ++next_;
    ++stats.decoded;
    return ok;
  }
  bool grab() {
    bool ok = false;
    try {
      ok = cap_.grab();
    } catch (const cv::Exception&) {
      ok = false;
    }
    ++next_;
    ++stats.decoded;
    return ok;
  }
  void seek(int64_t index) {
    bool ok = false;
    try {
      ok = cap_.set(cv::CAP_PROP_POS_FRAMES, static_cast<double>(index));
    } catch (const cv::Exception&) {
      ok = false;
    }
    SAM3RT_CHECK(ok, kCorruption, path_, ": cannot seek to frame ", index);
    next_ = index;
    ++stats.seeks;
  }
  int64_t count_by_decoding() {
    seek(0);
    int64_t n = 0;
    while (grab()) ++n;
    next_ = n + 1;  // past the end: the next request seeks
    SAM3RT_CHECK(n > 0, kCorruption, path_, ": the video has no decodable frame");
    return n;
  }
  // BGR (or gray / BGRA) Mat -> RGB uint8 [H, W, 3].
  at::Tensor to_rgb(const cv::Mat& m, int64_t index) const {
    SAM3RT_CHECK(m.depth() == CV_8U, kCorruption, path_, ": frame ", index, " is not 8-bit");
    at::Tensor t = at::empty({m.rows, m.cols, 3}, at::TensorOptions().dtype(at::kByte));
    cv::Mat dst(m.rows, m.cols, CV_8UC3, t.data_ptr<uint8_t>());
    switch (m.channels()) {
      case 3: cv::cvtColor(m, dst, cv::COLOR_BGR2RGB); break;
      case 4: cv::cvtColor(m, dst, cv::COLOR_BGRA2RGB); break;
      case 1: cv::cvtColor(m, dst, cv::COLOR_GRAY2RGB); break;
      default: SAM3RT_FAIL(kCorruption, path_, ": frame ", index, " has ", m.channels(), " channels");
    }
    SAM3RT_CHECK(dst.data == t.data_ptr<uint8_t>(), kInternal, "frame conversion reallocated its output");
    return t;
  }

  std::string path_;
  cv::VideoCapture cap_;
  FrameCache cache_;
  int64_t width_ = 0, height_ = 0, count_ = 0;
  double fps_ = 0;
  int64_t next_ = 0;  // index of the frame the next read() returns
};

#endif  // SAM3RT_HAVE_OPENCV

}  // namespace

bool can_read_video_files() {
#ifdef SAM3RT_HAVE_OPENCV
  return cv::videoio_registry::hasBackend(cv::CAP_FFMPEG);
#else
  return false;
#endif
}

std::vector<std::string> list_frame_files(const std::string& dir) {
  std::error_code ec;
  SAM3RT_CHECK(fs::is_directory(dir, ec), kNotFound, dir, ": not a folder");
  struct Item {
    std::string name, stem, path;
  };
  std::vector<Item> items;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    std::error_code fec;
    if (!is_frame_file(p) || !it->is_regular_file(fec)) continue;
    items.push_back({p.filename().string(), p.stem().string(), p.string()});
  }
  SAM3RT_CHECK(!ec, kIo, dir, ": cannot list the folder (", ec.message(), ")");
  SAM3RT_CHECK(!items.empty(), kNotFound, dir, ": no frames in the folder (no .jpg, .jpeg or .png files)");
  const bool numeric = std::all_of(items.begin(), items.end(), [](const Item& i) { return all_digits(i.stem); });
  std::sort(items.begin(), items.end(), [numeric](const Item& a, const Item& b) {
    if (numeric) {
      if (numeric_less(a.stem, b.stem)) return true;
      if (numeric_less(b.stem, a.stem)) return false;
    }
    return a.name < b.name;
  });
  std::vector<std::string> out;
  out.reserve(items.size());
  for (auto& i : items) out.push_back(std::move(i.path));
  return out;
}

FrameCache::FrameCache(int capacity) : capacity_(capacity) {
  SAM3RT_CHECK(capacity >= 1, kInvalidArgument, "the frame cache needs room for at least 1 frame, got ", capacity);
}

at::Tensor FrameCache::get(int64_t index) {
  for (Entry& e : entries_) {
    if (e.index == index) {
      e.used = ++tick_;
      return e.frame;
    }
  }
  return {};
}

bool FrameCache::contains(int64_t index) const {
  return std::any_of(entries_.begin(), entries_.end(), [index](const Entry& e) { return e.index == index; });
}

void FrameCache::put(int64_t index, at::Tensor frame) {
  for (Entry& e : entries_) {
    if (e.index == index) {
      e.frame = std::move(frame);
      e.used = ++tick_;
      return;
    }
  }
  if (static_cast<int>(entries_.size()) >= capacity_) {
    auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                   [](const Entry& a, const Entry& b) { return a.used < b.used; });
    entries_.erase(oldest);
  }
  entries_.push_back({index, std::move(frame), ++tick_});
}

std::unique_ptr<FrameSource> open_frame_folder(const std::string& dir, const FrameSourceOptions& options) {
  return std::make_unique<FolderSource>(dir, options);
}

std::unique_ptr<FrameSource> open_video_file(const std::string& path, const FrameSourceOptions& options) {
#ifdef SAM3RT_HAVE_OPENCV
  std::error_code ec;
  SAM3RT_CHECK(fs::exists(path, ec), kNotFound, path, ": no such file");
  SAM3RT_CHECK(fs::is_regular_file(path, ec), kIo, path, ": not a regular file");
  SAM3RT_CHECK(options.cache_frames >= 1, kInvalidArgument, "cache_frames must be at least 1, got ",
               options.cache_frames);
  return std::make_unique<CaptureSource>(path, options);
#else
  (void)options;
  SAM3RT_FAIL(kUnsupported, path,
              ": this sam3rt was built without OpenCV (SAM3RT_WITH_OPENCV=OFF) and cannot read video files; pass a "
              "folder of JPEG/PNG frames instead");
#endif
}

LoopedFrameSource::LoopedFrameSource(std::unique_ptr<FrameSource> inner, int64_t num_frames)
    : inner_(std::move(inner)), num_frames_(num_frames) {
  SAM3RT_CHECK(inner_ != nullptr, kInvalidArgument, "LoopedFrameSource needs a source");
  SAM3RT_CHECK(num_frames > 0, kInvalidArgument, "a looped video needs at least one frame, got ", num_frames);
}

std::string LoopedFrameSource::name() const {
  return inner_->name() + " (looped to " + std::to_string(num_frames_) + " frames)";
}

at::Tensor LoopedFrameSource::frame(int64_t index) {
  check_index(*this, index);
  return inner_->frame(index % inner_->num_frames());
}

DecodeStats decode_stats(const FrameSource& source) {
  const auto* c = dynamic_cast<const CountingSource*>(&source);
  return c ? c->stats : DecodeStats{};
}

}  // namespace sam3rt::io

namespace sam3rt {

std::unique_ptr<FrameSource> open_frame_source(const std::string& path, const FrameSourceOptions& options) {
  namespace fs = std::filesystem;
  SAM3RT_CHECK(!path.empty(), kInvalidArgument, "no video given");
  SAM3RT_CHECK(options.cache_frames >= 1, kInvalidArgument, "cache_frames must be at least 1, got ",
               options.cache_frames);
  std::error_code ec;
  SAM3RT_CHECK(fs::exists(path, ec), kNotFound, path, ": no such video file or frame folder");
  if (fs::is_directory(path, ec)) return io::open_frame_folder(path, options);
  return io::open_video_file(path, options);
}

}  // namespace sam3rt
