// Video memory benchmark (not a test): tracks objects through a video looped to a given
// length, through the public VideoSession API, and reports peak RSS and per-frame time.
// bench/video_memory.sh runs it for several lengths in separate processes and compares
// the peaks: with the bounded memory bank, streaming decoding and streamed outputs, peak
// RSS must not grow with the video's length.
//
//   video_memory VIDEO MODEL_DIR FRAMES [OBJECTS=1] [THREADS=1] [OUT_DIR] [HISTORY=0]
//
// VIDEO is a video file or frame folder, played again and again (io::LoopedFrameSource)
// up to FRAMES frames. OBJECTS boxes are placed on frame 0 in a row across the middle of
// the frame. With OUT_DIR (not "" or "-"), every frame's outputs are written as `sam3rt
// track` writes them (mask PNGs, overlay video, tracks.json), so their memory is measured
// too. HISTORY is VideoOptions::history_radius: -1 keeps every frame's memory, the control
// run that shows the measurement sees growth.
//
// A random checkpoint's tracker usually finds no object (object score logit <= 0: empty
// masks), which would leave the mask drawing, encoding and writing unmeasured.
//   video_memory --boost-object-score SRC_DIR DST_DIR DELTA
// copies a checkpoint with DELTA added to the tracker's object-score bias, so that objects
// are present and have masks (bench/video_memory.sh does this for its default model).
//
// Prints human-readable lines and one final line "RESULT {json}" with: frames, objects,
// peak_rss_kb (getrusage ru_maxrss), rss_kb at 10 % / 50 % / 100 % of the frames (VmRSS),
// the mean and median wall time per frame (decode to callback return) and the mean of each
// stage (decode, preprocess, track, postprocess, write).
#include <ATen/Parallel.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <sam3rt/sam3rt.h>
#include <sam3rt/video.h>

#include <filesystem>

#include "io/safetensors.h"
#include "io/video.h"
#include "render/video_writer.h"

namespace {

using Clock = std::chrono::steady_clock;

long peak_rss_kb() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;  // KiB on Linux
}

long current_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

double load_average() {
  double l = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = -1;
    std::fclose(f);
  }
  return l;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int boost_object_score(const std::string& src, const std::string& dst, double delta) {
  namespace fs = std::filesystem;
  const std::string kBias = "tracker_model.mask_decoder.pred_obj_score_head.proj_out.bias";
  const auto file = sam3rt::io::SafetensorsFile::open(src + "/model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  bool found = false;
  for (const auto& info : file->tensors()) {
    at::Tensor t = file->tensor(info);
    if (info.name == kBias) {
      t = t.add(delta);
      found = true;
    }
    tensors.emplace_back(info.name, t);
  }
  if (!found) {
    std::fprintf(stderr, "video_memory: %s has no %s\n", src.c_str(), kBias.c_str());
    return 1;
  }
  fs::create_directories(dst);
  fs::copy_file(src + "/config.json", dst + "/config.json", fs::copy_options::overwrite_existing);
  sam3rt::io::write_safetensors(dst + "/model.safetensors", tensors, file->metadata());
  std::printf("wrote %s: %s of %s plus %g\n", dst.c_str(), kBias.c_str(), src.c_str(), delta);
  return 0;
}

int run(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--boost-object-score") {
    return boost_object_score(argv[2], argv[3], std::atof(argv[4]));
  }
  if (argc < 4) {
    std::fprintf(stderr, "usage: video_memory VIDEO MODEL_DIR FRAMES [OBJECTS=1] [THREADS=1] [OUT_DIR] [HISTORY=0]\n");
    return 2;
  }
  const std::string video = argv[1], model_dir = argv[2];
  const int64_t frames = std::max<int64_t>(1, std::atoll(argv[3]));
  const int objects = argc > 4 ? std::max(1, std::atoi(argv[4])) : 1;
  const int threads = argc > 5 ? std::max(0, std::atoi(argv[5])) : 1;
  const std::string out_dir = argc > 6 && std::string(argv[6]) != "-" ? argv[6] : "";
  const int64_t history = argc > 7 ? std::atoll(argv[7]) : 0;

  sam3rt::ModelOptions mo;
  mo.model_dir = model_dir;
  mo.num_threads = threads;
  auto t0 = Clock::now();
  const auto model = sam3rt::Model::load(mo);
  const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
  auto inner = sam3rt::open_frame_source(video);
  const int64_t inner_frames = inner->num_frames();
  auto source = std::make_unique<sam3rt::io::LoopedFrameSource>(std::move(inner), frames);
  const int64_t W = source->width(), H = source->height();
  std::printf("model %s (%s%s, input %lld), %d ATen threads, %u cores, load average %.2f\n", model_dir.c_str(),
              model->type_name().c_str(), model->has_random_weights() ? ", random weights" : "",
              static_cast<long long>(model->image_size()), at::get_num_threads(), std::thread::hardware_concurrency(),
              load_average());
  std::printf("video %s: %lldx%lld, %lld frames looped to %lld; %d object%s; history radius %lld; load %.2f s\n",
              video.c_str(), static_cast<long long>(W), static_cast<long long>(H), static_cast<long long>(inner_frames),
              static_cast<long long>(frames), objects, objects == 1 ? "" : "s", static_cast<long long>(history), load_s);

  sam3rt::VideoOptions vo;
  vo.history_radius = history;
  sam3rt::VideoSession session(model, std::move(source), vo);
  // Boxes in a row across the middle, each a (1 / (objects + 1)) of the width wide.
  const float bw = static_cast<float>(W) / static_cast<float>(objects + 1);
  for (int k = 0; k < objects; ++k) {
    const float x1 = bw * (static_cast<float>(k) + 0.5f);
    session.add_box(0, k + 1, sam3rt::Box{x1, H * 0.25f, x1 + bw * 0.9f, H * 0.75f, true});
  }
  std::unique_ptr<sam3rt::TrackWriter> writer;
  if (!out_dir.empty()) {
    sam3rt::TrackWriterOptions wo;
    wo.dir = out_dir;
    wo.fps = session.fps();
    writer = std::make_unique<sam3rt::TrackWriter>(wo, W, H, frames, "{}");
  }

  std::vector<double> per_frame;
  std::map<std::string, double> stage_ms;
  std::map<int64_t, long> rss_at;
  const int64_t marks[3] = {std::max<int64_t>(1, frames / 10), std::max<int64_t>(1, frames / 2), frames};
  int64_t done = 0, present = 0, mask_pixels = 0;
  auto frame_start = Clock::now();
  const auto t_all = Clock::now();
  session.propagate([&](const sam3rt::TrackFrame& f) {
    if (writer) {
      const auto tw = Clock::now();
      writer->add(f, session.frame(f.index));
      stage_ms["write"] += std::chrono::duration<double, std::milli>(Clock::now() - tw).count();
    }
    for (const auto& [k, v] : f.timings_ms) stage_ms[k] += v;
    for (const auto& o : f.objects) {
      present += o.present ? 1 : 0;
      mask_pixels += o.area;
    }
    const auto now = Clock::now();
    per_frame.push_back(std::chrono::duration<double, std::milli>(now - frame_start).count());
    frame_start = now;
    ++done;
    for (int64_t m : marks) {
      if (done == m) rss_at[m] = current_rss_kb();
    }
    if (done % 100 == 0) {
      std::printf("  %lld frames, RSS %ld KiB, %.1f ms/frame\n", static_cast<long long>(done), current_rss_kb(),
                  std::chrono::duration<double, std::milli>(now - t_all).count() / static_cast<double>(done));
      std::fflush(stdout);
    }
    return true;
  });
  if (writer) writer->finish([&](int64_t i) { return session.frame(i); });
  const double total_s = std::chrono::duration<double>(Clock::now() - t_all).count();

  double mean = 0;
  for (double v : per_frame) mean += v;
  mean /= std::max<size_t>(1, per_frame.size());
  const long peak = peak_rss_kb();
  std::printf("tracked %lld frames in %.1f s: %.1f ms/frame mean, %.1f ms median\n", static_cast<long long>(done),
              total_s, mean, median(per_frame));
  std::printf("objects present on %lld of %lld object-frames, %.1f %% of their pixels on average\n",
              static_cast<long long>(present), static_cast<long long>(done * objects),
              100.0 * static_cast<double>(mask_pixels) / std::max<double>(1, static_cast<double>(done * objects * W * H)));
  std::printf("stages (mean ms/frame):");
  for (const auto& [k, v] : stage_ms) std::printf("  %s %.1f", k.c_str(), v / std::max<int64_t>(1, done));
  std::printf("\npeak RSS %ld KiB (%.1f MiB); RSS at %lld / %lld / %lld frames: %ld / %ld / %ld KiB\n", peak,
              peak / 1024.0, static_cast<long long>(marks[0]), static_cast<long long>(marks[1]),
              static_cast<long long>(marks[2]), rss_at[marks[0]], rss_at[marks[1]], rss_at[marks[2]]);
  std::printf("RESULT {\"frames\": %lld, \"objects\": %d, \"threads\": %d, \"peak_rss_kb\": %ld, \"rss_kb\": [%ld, %ld, "
              "%ld], \"ms_per_frame_mean\": %.2f, \"ms_per_frame_median\": %.2f",
              static_cast<long long>(done), objects, at::get_num_threads(), peak, rss_at[marks[0]], rss_at[marks[1]],
              rss_at[marks[2]], mean, median(per_frame), static_cast<long long>(present));
  for (const auto& [k, v] : stage_ms) std::printf(", \"%s_ms\": %.2f", k.c_str(), v / std::max<int64_t>(1, done));
  std::printf(", \"load_average\": %.2f}\n", load_average());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "video_memory: %s\n", e.what());
    return 1;
  }
}
