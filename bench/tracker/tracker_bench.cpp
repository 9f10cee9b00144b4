// Interactive-segmentation benchmark (not a test): encode one image once, then answer a
// series of one-click multimask prompts on the cached features, through the public API.
//
//   bench/tracker_bench.sh [MODEL_DIR=/tmp/sam3-full] [PROMPTS=20] [THREADS=0]
//
// (the script builds this file against build/libsam3rt.a and writes a full-size random
// checkpoint to MODEL_DIR first if there is none: 3.4 GB, never commit it).
//
// Prints the model load time, the encode time (ViT at set_image + the tracker neck, built
// on the first prompt), and the median / min / max wall time per prompt (prompt encoder,
// mask decoder and upsampling of the three candidates to the image). The image is a
// synthetic picture of the model's input size (1008 x 1008 for facebook/sam3), so the
// preprocessing resize is the identity.
//
// A plain main() (whole-model runs of seconds to a minute do not fit Google Benchmark's
// repetition model). It lives in bench/tracker/ because the sam3rt_bench target globs
// bench/*.cpp into one executable that has its own main().
#include <ATen/Parallel.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/stack.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include <sam3rt/sam3rt.h>

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A deterministic side x side RGB picture: gradients with a bright rectangle.
at::Tensor synthetic_image(int64_t side) {
  at::Tensor y = at::arange(side).view({side, 1}).expand({side, side});
  at::Tensor x = at::arange(side).view({1, side}).expand({side, side});
  at::Tensor rgb = at::stack({x.mul(255).div(side, "floor"), y.mul(255).div(side, "floor"),
                              x.add(y).mul(3).remainder(256)},
                             -1)
                       .to(at::kByte)
                       .contiguous();
  rgb.narrow(0, side / 3, side / 4).narrow(1, side / 2, side / 5).fill_(235);
  return rgb;
}

// CPU seconds (user + system) of the process so far: with other jobs on the machine the
// wall times stretch, the CPU time much less.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double load_average() {
  double l[1] = {0};
  FILE* f = std::fopen("/proc/loadavg", "r");
  if (f != nullptr) {
    if (std::fscanf(f, "%lf", &l[0]) != 1) l[0] = -1;
    std::fclose(f);
  }
  return l[0];
}

int run(int argc, char** argv) {
  const std::string model_dir = argc > 1 ? argv[1] : "/tmp/sam3-full";
  const int prompts = argc > 2 ? std::max(1, std::atoi(argv[2])) : 20;
  const int threads = argc > 3 ? std::max(0, std::atoi(argv[3])) : 0;

  sam3rt::ModelOptions mo;
  mo.model_dir = model_dir;
  mo.num_threads = threads;
  auto t0 = Clock::now();
  const auto model = sam3rt::Model::load(mo);
  const double load_s = seconds_since(t0);
  if (!model->can_segment_objects()) {
    std::fprintf(stderr, "tracker_bench: %s (%s) has no tracker\n", model_dir.c_str(), model->type_name().c_str());
    return 1;
  }
  const int64_t side = model->image_size();
  std::printf("model %s (%s%s), input %lldx%lld, %d ATen threads, %u cores, load average %.2f\n", model_dir.c_str(),
              model->type_name().c_str(), model->has_random_weights() ? ", random weights" : "",
              static_cast<long long>(side), static_cast<long long>(side), at::get_num_threads(),
              std::thread::hardware_concurrency(), load_average());
  std::printf("load          %8.3f s\n", load_s);

  const at::Tensor rgb = synthetic_image(side);
  sam3rt::ImageSession session(model);
  double cpu0 = cpu_seconds();
  t0 = Clock::now();
  session.set_image(rgb);
  const double vit_s = seconds_since(t0);
  const double vit_cpu = cpu_seconds() - cpu0;

  // Successive single clicks spread over the image (a fixed pseudo-random walk).
  std::vector<double> per_prompt, decoder_ms, postprocess_ms;
  double neck_s = 0;
  double prompts_cpu = 0;
  uint32_t state = 12345;
  auto next = [&state](int64_t n) {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>((state >> 8) % static_cast<uint32_t>(n));
  };
  for (int i = 0; i < prompts; ++i) {
    sam3rt::ObjectPrompt p;
    p.points = {{next(side), next(side)}};
    p.multimask = true;
    cpu0 = cpu_seconds();
    t0 = Clock::now();
    const sam3rt::ObjectResult r = session.predict(p);
    double wall = seconds_since(t0);
    if (i > 0) prompts_cpu += cpu_seconds() - cpu0;
    if (i == 0) {  // the first prompt builds the tracker neck: that belongs to the encode
      neck_s = r.timings_ms.at("tracker_neck") / 1000.0;
      wall -= neck_s;
    }
    per_prompt.push_back(wall);
    decoder_ms.push_back(r.timings_ms.at("tracker_decoder"));
    postprocess_ms.push_back(r.timings_ms.at("postprocess"));
    if (r.candidates.size() != 3) {
      std::fprintf(stderr, "tracker_bench: expected 3 candidates, got %zu\n", r.candidates.size());
      return 1;
    }
  }
  std::printf("encode        %8.3f s  (ViT %.3f s + tracker neck %.3f s)\n", vit_s + neck_s, vit_s, neck_s);
  std::vector<double> sorted = per_prompt;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  std::printf("per prompt    %8.3f s  median of %zu one-click multimask prompts (min %.3f, max %.3f)\n",
              median(per_prompt), n, sorted.front(), sorted.back());
  std::printf("              of which prompt encoder + mask decoder %.1f ms, masks to the image %.1f ms (medians)\n",
              median(decoder_ms), median(postprocess_ms));
  std::printf("cpu time      ViT %.1f s, %.3f s per prompt (user + system, all threads; prompts 2..%d)\n", vit_cpu,
              prompts > 1 ? prompts_cpu / (prompts - 1) : 0.0, prompts);
  std::printf("load average  %.2f at the end\n", load_average());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tracker_bench: %s\n", e.what());
    return 1;
  }
}
