// sam3rt track: objects prompted with clicks, boxes or masks on any frame, or every
// instance of a text, tracked through a video (file or frame folder); writes per-object
// mask PNGs, an overlay video and tracks.json.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "model_flags.h"
#include "prompt_args.h"
#include "sam3rt/sam3rt.h"

namespace sam3rt::cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct TrackArgs {
  ModelOptions model;
  std::string video, out;
  std::vector<std::string> texts, points, boxes, masks;
  bool reverse = false, no_overlay = false, no_masks = false;
  int max_objects = 0;
  int64_t start = -1, max_frames = 0;
  double fps = 0;
};

std::string clock_text(double seconds) {
  if (!(seconds >= 0) || seconds > 359999) return "--:--";
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

// Progress on stderr: a bar redrawn in place on a terminal, plain lines every 10 s
// otherwise (logs, pipes).
class Progress {
 public:
  explicit Progress(int64_t total) : total_(std::max<int64_t>(total, 1)), tty_(::isatty(2) == 1) {}

  void update(int64_t done) {
    const auto now = Clock::now();
    const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
    const bool last = done >= total_;
    if (!last && since_draw < (tty_ ? 0.1 : 10.0)) return;
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? done / elapsed : 0;
    const double eta = rate > 0 ? (total_ - done) / rate : -1;
    if (tty_) {
      constexpr int kWidth = 28;
      const int filled = static_cast<int>(kWidth * done / total_);
      std::string bar(filled, '#');
      bar.append(kWidth - filled, '.');
      std::fprintf(stderr, "\r[%s] %lld/%lld frames  %.2f frames/s  %s %s   ", bar.c_str(),
                   static_cast<long long>(done), static_cast<long long>(total_), rate, last ? "took" : "ETA",
                   clock_text(last ? elapsed : eta).c_str());
      if (last) std::fputc('\n', stderr);
    } else if (last) {
      std::fprintf(stderr, "track: %lld/%lld frames in %s (%.2f frames/s)\n", static_cast<long long>(done),
                   static_cast<long long>(total_), clock_text(elapsed).c_str(), rate);
    } else {
      std::fprintf(stderr, "track: %lld/%lld frames (%d%%), %.2f frames/s, ETA %s\n", static_cast<long long>(done),
                   static_cast<long long>(total_), static_cast<int>(100 * done / total_), rate,
                   clock_text(eta).c_str());
    }
    std::fflush(stderr);
  }

 private:
  int64_t total_;
  bool tty_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_ = Clock::now();
};

void run_track(const TrackArgs& a) {
  // FFmpeg and OpenCV log to stderr on their own (e.g. "moov atom not found" for a broken
  // file); the error sam3rt reports says it in one line. A user's own setting wins.
  ::setenv("OPENCV_FFMPEG_LOGLEVEL", "-8", 0);
  ::setenv("OPENCV_LOG_LEVEL", "ERROR", 0);

  std::vector<CliPrompt> prompts;
  for (const auto& s : a.points) prompts.push_back(parse_point_arg(s));
  for (const auto& s : a.boxes) prompts.push_back(parse_box_arg(s));
  for (const auto& s : a.masks) prompts.push_back(parse_mask_arg(s));
  for (const auto& t : a.texts) SAM3RT_CHECK(!t.empty(), kInvalidArgument, "--text must not be empty");
  SAM3RT_CHECK(!prompts.empty() || !a.texts.empty(), kInvalidArgument,
               "no prompt: give --point, --box or --mask (per frame and object), or --text");
  SAM3RT_CHECK(a.texts.empty() || prompts.empty(), kInvalidArgument,
               "--text cannot be combined with --point/--box/--mask: objects found by text are numbered by the "
               "detector, so one run takes either text or clicks");
  std::set<int64_t> ids;
  for (const auto& p : prompts) ids.insert(p.object);
  if (a.max_objects > 0 && static_cast<int>(ids.size()) > a.max_objects) {
    std::string list;
    for (int64_t id : ids) list += (list.empty() ? "" : ", ") + std::to_string(id);
    SAM3RT_FAIL(kInvalidArgument, "the prompts name ", ids.size(), " objects (", list, ") but --max-objects is ",
                a.max_objects);
  }

  // The video before the model: a bad file or a prompt past its end fails fast.
  std::unique_ptr<FrameSource> source = open_frame_source(a.video);
  const int64_t n = source->num_frames(), W = source->width(), H = source->height();
  for (const auto& p : prompts) {
    SAM3RT_CHECK(p.frame < n, kInvalidArgument, p.option, " '", p.text, "': frame ", p.frame,
                 " is past the end of the video (", a.video, " has ", n, " frame", n == 1 ? "" : "s", ", 0..", n - 1,
                 ")");
  }
  SAM3RT_CHECK(a.start < n, kInvalidArgument, "--start ", a.start, " is past the end of the video (", n, " frames)");
  std::map<size_t, at::Tensor> mask_images;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].option != "--mask") continue;
    mask_images[i] = decode_mask(prompts[i].path, W, H);
  }

  const auto t_load = Clock::now();
  auto model = Model::load(a.model);
  const double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();
  VideoOptions vo;
  vo.max_objects = a.max_objects;
  const double fps = a.fps > 0 ? a.fps : source->fps();
  const std::string video_name = source->name();
  VideoSession session(model, std::move(source), vo);
  const bool text_mode = !a.texts.empty();
  for (const auto& t : a.texts) session.add_text(t, a.start >= 0 ? a.start : 0);

  // Objects in ascending id order (their order in the outputs and colours).
  nlohmann::ordered_json prompt_json = nlohmann::ordered_json::array();
  for (int64_t id : ids) {
    for (size_t i = 0; i < prompts.size(); ++i) {
      const CliPrompt& p = prompts[i];
      if (p.object != id) continue;
      nlohmann::ordered_json j;
      j["object"] = p.object;
      j["frame"] = p.frame;
      if (p.option == "--point") {
        session.add_points(p.frame, p.object, {Point{p.values[0], p.values[1], p.positive}});
        j["point"] = {p.values[0], p.values[1]};
        j["positive"] = p.positive;
      } else if (p.option == "--box") {
        session.add_box(p.frame, p.object, Box{p.values[0], p.values[1], p.values[2], p.values[3], true});
        j["box"] = {p.values[0], p.values[1], p.values[2], p.values[3]};
      } else {
        session.add_mask(p.frame, p.object, mask_images.at(i));
        j["mask"] = p.path;
      }
      prompt_json.push_back(std::move(j));
    }
  }

  PropagateOptions po;
  po.reverse = a.reverse;
  po.start_frame = a.start;
  po.max_frames = a.max_frames;
  int64_t start = a.start;
  if (start < 0 && text_mode) start = 0;
  if (start < 0) {
    start = a.reverse ? -1 : n;
    for (const auto& p : prompts) start = a.reverse ? std::max(start, p.frame) : std::min(start, p.frame);
  }
  // Backwards, text tracking starts one frame before the start (transformers' order).
  int64_t total = a.reverse ? (text_mode ? start : start + 1) : n - start;
  if (a.max_frames > 0) total = std::min(total, a.max_frames);

  nlohmann::ordered_json header;
  header["video"] = {{"path", video_name}, {"width", W}, {"height", H}, {"fps", fps}, {"num_frames", n}};
  header["model"] = model->type_name();
  if (model->has_random_weights()) header["note"] = "random-weight checkpoint: masks are meaningless";
  header["direction"] = a.reverse ? "reverse" : "forward";
  header["start_frame"] = start;
  if (text_mode) {
    header["texts"] = a.texts;
  } else {
    header["objects"] = std::vector<int64_t>(ids.begin(), ids.end());
    header["prompts"] = std::move(prompt_json);
  }
  TrackWriterOptions wo;
  wo.dir = a.out;
  wo.mask_pngs = !a.no_masks;
  wo.overlay = !a.no_overlay;
  wo.fps = fps;
  TrackWriter writer(wo, W, H, n, header.dump());

  Progress progress(total);
  std::map<std::string, double> stage_ms;
  int64_t present = 0, object_frames = 0;
  std::set<int64_t> seen;
  const auto t_track = Clock::now();
  // A frame that cannot be read (a corrupt frame, an unreadable file in a folder) or an
  // output that cannot be written ends the run with an error, after tracks.json is closed
  // over the frames tracked before it (with an "error" member): the tracker's memory is
  // built from consecutive frames, so skipping one would silently change every later mask.
  std::optional<Error> failure;
  int64_t done = 0;
  try {
    done = session.propagate([&](const TrackFrame& f) {
    const auto t0 = Clock::now();
    writer.add(f, session.frame(f.index));
    stage_ms["write"] += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    for (const auto& [k, v] : f.timings_ms) stage_ms[k] += v;
    for (const auto& o : f.objects) {
      present += o.present ? 1 : 0;
      if (o.present) seen.insert(o.id);
    }
    object_frames += static_cast<int64_t>(f.objects.size());
    progress.update(writer.frames_added());
    return true;
  }, po);
  } catch (const Error& e) {
    failure = e;
    done = writer.frames_added();
  }
  nlohmann::ordered_json trailer = nlohmann::ordered_json::object();
  if (text_mode) trailer["objects"] = std::vector<int64_t>(seen.begin(), seen.end());
  if (failure) {
    trailer["error"] = {{"code", error_code_name(failure->code())},
                        {"message", failure->what()},
                        {"frames_written", writer.frames_added()}};
  }
  std::vector<std::string> written;
  try {
    written = writer.finish([&](int64_t i) { return session.frame(i); }, trailer.empty() ? "" : trailer.dump());
  } catch (const Error& e) {
    if (!failure) throw;
    throw Error(failure->code(), std::string(failure->what()) + "; closing the outputs failed too: " + e.what());
  }
  if (failure) {
    throw Error(failure->code(), std::string(failure->what()) + " (tracking stopped; the " +
                                     std::to_string(writer.frames_added()) + " frames tracked before it are in " +
                                     a.out + ", tracks.json has an \"error\" member)");
  }
  const double track_s = std::chrono::duration<double>(Clock::now() - t_track).count();

  if (model->has_random_weights()) note_random_weights(a.model.model_dir);
  note_compute_path(*model);
  const size_t objects = text_mode ? seen.size() : ids.size();
  std::printf("tracked %zu object%s over %lld frame%s (%s from frame %lld) in %.1f s, %.2f frames/s (model load %.1f s)\n",
              objects, objects == 1 ? "" : "s", static_cast<long long>(done), done == 1 ? "" : "s",
              a.reverse ? "backwards" : "forwards", static_cast<long long>(start), track_s,
              track_s > 0 ? done / track_s : 0.0, load_s);
  std::printf("per frame:");
  for (const auto& [k, v] : stage_ms) std::printf("  %s %.1f ms", k.c_str(), done > 0 ? v / done : 0.0);
  std::printf("\nobjects present on %lld of %lld object-frames\n", static_cast<long long>(present),
              static_cast<long long>(object_frames));
  std::printf("wrote");
  for (size_t i = 0; i < written.size(); ++i) std::printf("%s %s", i ? "," : "", written[i].c_str());
  std::printf("\n");
}

}  // namespace

void add_track_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "track", "Track objects through a video (file or frame folder) from clicks, boxes or masks on any frame");
  auto a = std::make_shared<TrackArgs>();
  add_model_flags(cmd, a->model,
                  "--text: transformers' text-only detector query (no geometry CLS token) instead of Meta's");
  cmd->add_option("--video", a->video, "video file (mp4, avi, mkv, ...) or folder of JPEG/PNG frames")->required();
  cmd->add_option("--out", a->out, "output folder: masks/<object>/<frame>.png, overlay.mp4, tracks.json")->required();
  cmd->add_option("--point", a->points,
                  "click F:x,y[,neg][@OBJ] on frame F (video pixels; object 1 by default); repeat, points on the "
                  "same frame and object add up");
  cmd->add_option("--box", a->boxes, "box F:x1,y1,x2,y2[@OBJ] on frame F (one per object and frame); repeat");
  cmd->add_option("--mask", a->masks, "mask F:MASK.png[@OBJ]: a PNG of the video's size, white = object; repeat");
  cmd->add_option("--text", a->texts,
                  "track every instance of a concept, numbered by the detector (instead of clicks); repeat");
  cmd->add_flag("--reverse", a->reverse,
                "track backwards, from the latest prompted frame (or --start) down to frame 0 (text: from the "
                "frame before --start)");
  cmd->add_option("--start", a->start, "first frame to track (default: the earliest prompted frame, the latest "
                                       "with --reverse; text: 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-frames", a->max_frames, "track at most this many frames (0 = to the end)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-objects", a->max_objects, "at most this many objects (0 = no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--fps", a->fps, "frame rate of overlay.mp4 (default: the video's, 30 for frame folders)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-overlay", a->no_overlay, "do not write overlay.mp4");
  cmd->add_flag("--no-masks", a->no_masks, "do not write mask PNGs (tracks.json still has every mask)");
  cmd->callback([&exit_code, a] {
    run_track(*a);
    exit_code = 0;
  });
}

}  // namespace sam3rt::cli
