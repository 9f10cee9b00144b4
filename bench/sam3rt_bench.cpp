// sam3rt_bench: times sam3rt's stages on a full-size checkpoint, the same stages that
// the reference's bench_reference.py times (vision, text, detector per prompt, end to
// end, tracker image embedding and tracker prompt), plus the machine's fp32 GEMM rate.
//
//   sam3rt_bench --model /tmp/sam3-full [--stages gemm,vision,...] [--reps N] [--warmup N]
//                [--json out.json] [--md out.md]
//
// Each stage: warm-up runs, then N timed runs; median / min / max and ru_maxrss after the
// stage (the process's peak so far: stages run in one process, in the order given, and
// share the mapped weights). Inputs are those of bench_reference.py: uniform pixel values
// in [-1, 1] at 1008x1008, "a photo of a cat" as CLIP ids padded to 32, two boxes
// (one positive, one negative), one tracker point. Run bench/run_bench.sh to time the
// reference in the same run and print the ratios (docs/performance.md).
#include <ATen/Parallel.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "io/config.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/modules.h"
#include "models/sam3/detector.h"
#include "models/tracker/tracker.h"
#include "nn/cpu/gemm.h"
#include "nn/compat.h"
#include "nn/cpu/parallel.h"
#include "nn/position_encoding.h"
#include "pipeline/memory_tuning.h"
#include "pipeline/model_impl.h"
#include "pipeline/postprocess.h"
#include "pipeline/preprocess.h"
#include "sam3rt/sam3rt.h"
#include "sam3rt/video.h"

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// VmHWM of /proc/self/status (getrusage's maxrss as fallback): the kernel's peak, which
// reset_peak_rss() starts again between the precisions of one run.
double peak_rss_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}

double rss_now_mib() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

struct CpuTimes {
  double user = 0, system = 0;
  long minor_faults = 0;
};

CpuTimes cpu_times() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  CpuTimes t;
  t.user = static_cast<double>(ru.ru_utime.tv_sec) + 1e-6 * static_cast<double>(ru.ru_utime.tv_usec);
  t.system = static_cast<double>(ru.ru_stime.tv_sec) + 1e-6 * static_cast<double>(ru.ru_stime.tv_usec);
  t.minor_faults = ru.ru_minflt;
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Breakdown timers: a stage function adds named sub-times of one run here. Under
// kStageTime it may give the stage's own time (when it also does untimed extra work).
using Breakdown = std::map<std::string, double>;
constexpr const char* kStageTime = "_stage";

struct StageResult {
  std::string name;
  std::vector<double> warmup_s, times_s;
  std::map<std::string, std::vector<double>> breakdown_s;
  double peak_rss_mib = 0, rss_end_mib = 0;
  double peak_device_mib = -1;  // the device allocator's peak during the stage (CUDA)
  CpuTimes cpu;
  std::string note;
};

// The model's device: timings wait for its queued work (CUDA runs asynchronously).
at::Device bench_device(at::kCPU);
void wait_for_device() { sam3rt::nn::compat::synchronize(bench_device); }
// Seconds since t0 once the device has finished what was queued meanwhile.
double device_seconds_since(Clock::time_point t0) {
  wait_for_device();
  return seconds_since(t0);
}

// Frames decoded beforehand, so that the video stage times tracking, not decoding.
class HeldFrames : public sam3rt::FrameSource {
 public:
  explicit HeldFrames(std::vector<at::Tensor> frames) : frames_(std::move(frames)) {}
  int64_t num_frames() const override { return static_cast<int64_t>(frames_.size()); }
  int64_t width() const override { return frames_[0].size(1); }
  int64_t height() const override { return frames_[0].size(0); }
  double fps() const override { return 0.0; }
  std::string name() const override { return "frames held in memory"; }
  at::Tensor frame(int64_t index) override { return frames_.at(static_cast<size_t>(index)); }

 private:
  std::vector<at::Tensor> frames_;
};

StageResult run_stage(const std::string& name, int warmup, int reps, const std::function<void(Breakdown&)>& fn,
                      const std::string& note = "") {
  StageResult r;
  r.name = name;
  r.note = note;
  std::fprintf(stderr, "[sam3rt_bench] %s: %d warm-up + %d runs ...\n", name.c_str(), warmup, reps);
  wait_for_device();
  sam3rt::nn::compat::reset_peak_memory(bench_device);
  for (int i = 0; i < warmup; ++i) {
    Breakdown b;
    const auto t0 = Clock::now();
    fn(b);
    wait_for_device();
    r.warmup_s.push_back(seconds_since(t0));
  }
  const CpuTimes c0 = cpu_times();
  for (int i = 0; i < reps; ++i) {
    Breakdown b;
    const auto t0 = Clock::now();
    fn(b);
    wait_for_device();
    double t = seconds_since(t0);
    if (auto it = b.find(kStageTime); it != b.end()) {  // the function timed its own stage part
      t = it->second;
      b.erase(it);
    }
    r.times_s.push_back(t);
    for (const auto& [k, v] : b) r.breakdown_s[k].push_back(v);
  }
  const CpuTimes c1 = cpu_times();
  r.cpu.user = c1.user - c0.user;
  r.cpu.system = c1.system - c0.system;
  r.cpu.minor_faults = c1.minor_faults - c0.minor_faults;
  r.peak_rss_mib = peak_rss_mib();
  r.rss_end_mib = rss_now_mib();
  const int64_t peak = sam3rt::nn::compat::peak_memory_bytes(bench_device);
  if (peak >= 0) r.peak_device_mib = static_cast<double>(peak) / (1024.0 * 1024.0);
  if (!r.times_s.empty()) {
    std::fprintf(stderr, "[sam3rt_bench] %s: median %.4f s (min %.4f, max %.4f), peak RSS %.0f MiB, device peak %.0f MiB\n",
                 name.c_str(), median(r.times_s), *std::min_element(r.times_s.begin(), r.times_s.end()),
                 *std::max_element(r.times_s.begin(), r.times_s.end()), r.peak_rss_mib, r.peak_device_mib);
  }
  return r;
}

// The device's matrix-product rate in the model's matmul dtype (at::mm; cuBLAS on CUDA,
// TF32 as the model set it), square 8192 and the ViT MLP's 5184 x 1024 x 4736.
json measure_device_gemm(int reps, at::Device dev, at::ScalarType dtype) {
  json out = json::object();
  struct Shape {
    int64_t m, k, n;
  };
  for (const Shape s : {Shape{8192, 8192, 8192}, Shape{5184, 1024, 4736}}) {
    const auto o = at::TensorOptions().device(dev).dtype(dtype);
    at::Tensor a = at::randn({s.m, s.k}, o), b = at::randn({s.k, s.n}, o), c = at::empty({s.m, s.n}, o);
    for (int i = 0; i < 3; ++i) at::mm_out(c, a, b);
    wait_for_device();
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
      const auto t0 = Clock::now();
      at::mm_out(c, a, b);
      t.push_back(device_seconds_since(t0));
    }
    const double flop = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.k) * static_cast<double>(s.n);
    const std::string key = "mm_" + std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n);
    out[key] = {{"times_s", t},
                {"gflops_best", flop / *std::min_element(t.begin(), t.end()) / 1e9},
                {"gflops_median", flop / median(t) / 1e9}};
    std::fprintf(stderr, "[sam3rt_bench] gemm %s on %s: best %.1f GFLOP/s, median %.1f GFLOP/s\n", key.c_str(),
                 dev.str().c_str(), out[key]["gflops_best"].get<double>(), out[key]["gflops_median"].get<double>());
  }
  return out;
}

// fp32 GEMM rate through ATen (at::mm -> BLAS): [M, K] x [K, N], the shape of issue #6.
// GEMM rates of this CPU in the model's matmul dtype: at::mm (OpenBLAS for float32,
// oneDNN for bf16) at two shapes, and sam3rt's own GEMM (float32 AVX-512, or AVX512-BF16
// with float32 activations, as nn::Linear calls it) at the first. The ViT is held to the
// best of them.
json measure_gemm(int reps, at::ScalarType dtype) {
  json out = json::object();
  auto record = [&](const std::string& key, double flop, auto&& run) {
    for (int i = 0; i < 2; ++i) run();
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
      const auto t0 = Clock::now();
      run();
      t.push_back(seconds_since(t0));
    }
    out[key] = {{"times_s", t},
                {"gflops_best", flop / *std::min_element(t.begin(), t.end()) / 1e9},
                {"gflops_median", flop / median(t) / 1e9}};
    std::fprintf(stderr, "[sam3rt_bench] gemm %s: best %.1f GFLOP/s, median %.1f GFLOP/s\n", key.c_str(),
                 out[key]["gflops_best"].get<double>(), out[key]["gflops_median"].get<double>());
  };
  const bool bf16 = dtype == at::kBFloat16;
  struct Shape {
    int64_t m, k, n;
  };
  for (const Shape s : {Shape{4096, 1024, 4096}, Shape{2048, 2048, 2048}}) {
    const at::Tensor a = at::randn({s.m, s.k}).to(dtype), b = at::randn({s.k, s.n}).to(dtype);
    at::Tensor c = at::empty({s.m, s.n}, a.options());
    const double flop = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.k) * static_cast<double>(s.n);
    record(std::string(bf16 ? "mm_bf16_" : "mm_") + std::to_string(s.m) + "x" + std::to_string(s.k) + "x" +
               std::to_string(s.n),
           flop, [&] { at::mm_out(c, a, b); });
  }
  const int64_t m = 4096, k = 1024, n = 4096;
  const double flop = 2.0 * static_cast<double>(m * k * n);
  const at::Tensor a = at::randn({m, k}), w = at::randn({n, k});
  at::Tensor c = at::empty({m, n});
  if (!bf16 && sam3rt::nn::cpu::gemm_available()) {
    record("own_gemm_4096x1024x4096", flop, [&] {
      sam3rt::nn::cpu::gemm_abt(m, n, k, a.data_ptr<float>(), k, w.data_ptr<float>(), k, nullptr, c.data_ptr<float>(),
                                n, false, sam3rt::nn::cpu::compute_threads());
    });
  }
  if (bf16 && sam3rt::nn::cpu::gemm_bf16_available()) {
    const at::Tensor w16 = w.to(at::kBFloat16);
    record("own_bf16_gemm_4096x1024x4096", flop, [&] {
      sam3rt::nn::cpu::gemm_abt_bf16(m, n, k, a.data_ptr<float>(), k, reinterpret_cast<const uint16_t*>(w16.data_ptr()),
                                     k, nullptr, c.data_ptr<float>(), n, false, sam3rt::nn::cpu::compute_threads());
    });
  }
  return out;
}

// Floating-point operations of the ViT's matrix products at batch 1 (projections, MLP,
// attention QK^T and PV, patch embedding), 2 per multiply-add.
double vit_flop(const sam3rt::VitConfig& c) {
  const double D = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const int64_t G = c.grid();
  const double N = static_cast<double>(G * G);
  double f = 2.0 * N * D * static_cast<double>(c.num_channels * c.patch_size * c.patch_size);  // patch embedding
  const int64_t w = c.window_size;
  const int64_t Gp = w > 0 ? (G + w - 1) / w * w : G;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const bool global = std::find(c.global_attn_indexes.begin(), c.global_attn_indexes.end(), i) !=
                            c.global_attn_indexes.end() ||
                        w <= 0;
    const double tokens = global ? N : static_cast<double>(Gp * Gp);  // padded windows compute on padding too
    const double per_window = global ? N : static_cast<double>(w * w);
    f += 2.0 * tokens * D * (4.0 * D);             // q, k, v, o projections
    f += 2.0 * N * D * (2.0 * I);                  // fc1, fc2
    f += 2.0 * 2.0 * tokens * per_window * D;      // QK^T and PV over all heads
  }
  return f;
}

// The steps of models::detect() one by one, timed (the same calls; detect() itself is
// what the stage timings measure). Keep in step with src/models/sam3/detector.cpp.
void detect_breakdown(const sam3rt::models::Modules& m, const sam3rt::models::DetectorImageFeatures& image,
                      const sam3rt::models::DetectorPrompt& prompt, Breakdown& b) {
  const sam3rt::models::DetectorModules& det = *m.detector;
  const at::Tensor& coarse = image.fpn.back();
  const int64_t B = coarse.size(0), gh = coarse.size(2), gw = coarse.size(3);
  at::Tensor tokens = prompt.text, valid = prompt.text_valid.to(at::kBool);
  auto t0 = Clock::now();
  const bool has_boxes = prompt.boxes.defined() && prompt.boxes.size(1) > 0;
  if (has_boxes || prompt.geometry_without_boxes) {
    at::Tensor boxes = has_boxes ? prompt.boxes : at::zeros({B, 0, 4});
    at::Tensor labels = has_boxes ? prompt.box_labels : at::zeros({B, 0}, at::TensorOptions().dtype(at::kLong));
    sam3rt::models::GeometryPrompt g = det.geometry_encoder.forward(boxes, labels, labels.ne(-10), coarse, image.pos);
    tokens = at::cat({tokens, g.features}, 1);
    valid = at::cat({valid, g.mask.to(at::kBool)}, 1);
  }
  b["geometry_encoder"] = device_seconds_since(t0);
  t0 = Clock::now();
  at::Tensor flat = coarse.flatten(2).transpose(1, 2);
  at::Tensor pos = image.pos.flatten(2).transpose(1, 2);
  at::Tensor memory = det.detr_encoder.forward(flat, pos, tokens, valid);
  b["detr_encoder"] = device_seconds_since(t0);
  t0 = Clock::now();
  sam3rt::models::DetrDecoderOutput dec = det.detr_decoder.forward(memory, pos, gh, gw, tokens, valid);
  b["detr_decoder"] = device_seconds_since(t0);
  t0 = Clock::now();
  at::Tensor logits = det.scoring.forward(dec.hidden_states, tokens, valid);
  b["scoring"] = device_seconds_since(t0);
  t0 = Clock::now();
  const int64_t last = dec.hidden_states.size(0) - 1;
  sam3rt::models::SegmentationOutput seg =
      det.segmentation_head.forward(dec.hidden_states[last], memory, image.fpn, tokens, valid);
  b["segmentation_head"] = device_seconds_since(t0);
}

std::string fmt(double v, int prec = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

// The comparison of a multi-precision run: every stage's median against the first
// precision's, the ViT's rate against the best GEMM rate of its own precision, and peak
// RSS. Adds "ratios" to `out`; returns the Markdown.
std::string ratio_table(const json& runs, json& out) {
  std::ostringstream md;
  const json& base = runs[0];
  auto stage_median = [](const json& run, const std::string& name) -> double {
    for (const json& j : run["stages"]) {
      if (j["stage"] == name && j.contains("median_s")) return j["median_s"].get<double>();
    }
    return -1;
  };
  md << "## " << base["precision"].get<std::string>() << " against the others (same run)\n\n";
  md << "| stage |";
  for (const json& r : runs) md << " " << r["precision"].get<std::string>() << " median s |";
  for (size_t i = 1; i < runs.size(); ++i) md << " " << runs[i]["precision"].get<std::string>() << " / " << base["precision"].get<std::string>() << " |";
  md << "\n|---|";
  for (size_t i = 0; i < 2 * runs.size() - 1; ++i) md << "---|";
  md << "\n";
  json ratios = json::object();
  for (const json& j : base["stages"]) {
    if (!j.contains("median_s")) continue;
    const std::string name = j["stage"];
    md << "| " << name << " |";
    for (const json& r : runs) {
      const double t = stage_median(r, name);
      md << " " << (t >= 0 ? fmt(t, 4) : std::string("-")) << " |";
    }
    for (size_t i = 1; i < runs.size(); ++i) {
      const double t = stage_median(runs[i], name), t0 = j["median_s"].get<double>();
      const std::string key = runs[i]["precision"].get<std::string>() + "/" + base["precision"].get<std::string>();
      if (t >= 0 && t0 > 0) ratios[key][name] = t / t0;
      md << " " << (t >= 0 && t0 > 0 ? fmt(t / t0, 2) : std::string("-")) << " |";
    }
    md << "\n";
  }
  md << "\n";
  for (const json& r : runs) {
    md << "- " << r["precision"].get<std::string>() << ": " << r["compute_path"].get<std::string>() << "; peak RSS "
       << fmt(r["peak_rss_mib"].get<double>(), 0) << " MiB";
    for (const json& j : r["stages"]) {
      if (j.contains("vit_gflops")) {
        md << "; ViT " << fmt(j["vit_gflops"].get<double>() / 1e3, 3) << " TFLOP/s";
        if (j.contains("vit_pct_of_gemm")) md << " (" << fmt(j["vit_pct_of_gemm"].get<double>(), 0) << "% of this precision's best GEMM rate, " << fmt(r["gemm_best_gflops"].get<double>(), 0) << " GFLOP/s)";
      }
    }
    md << "\n";
  }
  if (runs.size() > 1) {
    const double p0 = base["peak_rss_mib"].get<double>();
    for (size_t i = 1; i < runs.size(); ++i) {
      md << "- peak RSS " << runs[i]["precision"].get<std::string>() << " / " << base["precision"].get<std::string>() << ": "
         << fmt(runs[i]["peak_rss_mib"].get<double>() / p0, 2) << "\n";
    }
  }
  out["ratios"] = ratios;
  return md.str();
}

void usage() {
  std::fprintf(stderr,
               "usage: sam3rt_bench --model DIR [--stages LIST] [--reps N] [--warmup N] [--threads N] [--json FILE] [--md FILE]\n"
               "  stages (default gemm,vision,text,detector_text,detector_text_2boxes,e2e,tracker_embed,"
               "tracker_prompt):\n"
               "    gemm vision text detector_text detector_text_2boxes e2e tracker_embed tracker_prompt\n"
               "    vit_blocks (one windowed + one global ViT block, for quick comparisons)\n"
               "    tracker_session (public API: encode once, then one new click per run)\n"
               "    image_pipeline (decoded image + text -> instances at the image's size; --image, --text)\n"
               "    video (per frame, objects from --video-objects, default 1,10; frames of --video or random;\n"
               "           --video-frames N frames per run, default max(reps, 20) + 4, the first 3 warm-up)\n"
               "  --breakdown: detector stages also time their modules one by one (a second, untimed\n"
               "               pass per run; the stage time is still detect() alone)\n"
               "  --reps N: timed runs per stage (default: 3 for the ViT stages, 5 detector, 10 text, 20 tracker\n"
               "            prompt)\n"
               "  --threads N: cores (default 0: all, as Model::load)\n"
               "  --device cpu|cuda[:N], --precision fp32|bf16: as ModelOptions; a list (fp32,bf16) runs every\n"
               "    stage once per precision, one model at a time, and ends with a table of the ratios\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, json_path, md_path;
  std::string stages_arg = "gemm,vision,text,detector_text,detector_text_2boxes,e2e,tracker_embed,tracker_prompt";
  int reps_override = 0, warmup = 1, threads = 0;
  std::string device = "cpu", precision_list = "fp32";
  std::string image_path, video_path, text_prompt = "person";
  std::vector<int> video_objects = {1, 10};
  int64_t video_frame_count = 0;  // 0: max(reps, 20) + 4
  bool breakdown = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sam3rt_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--model") model_dir = next();
    else if (a == "--stages") stages_arg = next();
    else if (a == "--reps") reps_override = std::stoi(next());
    else if (a == "--warmup") warmup = std::stoi(next());
    else if (a == "--json") json_path = next();
    else if (a == "--md") md_path = next();
    else if (a == "--breakdown") breakdown = true;
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--device") device = next();
    else if (a == "--precision") precision_list = next();
    else if (a == "--image") image_path = next();
    else if (a == "--text") text_prompt = next();
    else if (a == "--video") video_path = next();
    else if (a == "--video-frames") video_frame_count = std::stoll(next());
    else if (a == "--video-objects") {
      video_objects.clear();
      std::stringstream ss(next());
      std::string x;
      while (std::getline(ss, x, ',')) video_objects.push_back(std::stoi(x));
    }
    else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "sam3rt_bench: unknown argument %s\n", a.c_str());
      usage();
      return 2;
    }
  }
  if (model_dir.empty()) {
    usage();
    return 2;
  }
  std::vector<std::string> stages;
  {
    std::stringstream ss(stages_arg);
    std::string s;
    while (std::getline(ss, s, ',')) {
      if (!s.empty()) stages.push_back(s);
    }
  }
  auto reps_for = [&](const std::string& stage) {
    if (reps_override > 0) return reps_override;
    if (stage == "text") return 10;
    if (stage == "tracker_prompt" || stage == "tracker_session") return 20;
    if (stage == "detector_text" || stage == "detector_text_2boxes") return 5;
    return 3;
  };

  std::vector<std::string> precisions;
  {
    std::stringstream ss(precision_list);
    std::string p;
    while (std::getline(ss, p, ',')) {
      if (!p.empty()) precisions.push_back(p);
    }
  }
  json all_runs = json::array();
  std::string all_md;
  try {
   for (const std::string& precision : precisions) {
    reset_peak_rss();
    // What Model::load does too (idempotent); SAM3RT_DEFAULT_MALLOC=1 leaves glibc's
    // defaults, to measure the difference.
    const sam3rt::pipeline::AllocatorTuning tuning = sam3rt::pipeline::tune_allocator_for_inference();
    const auto t_load = Clock::now();
    sam3rt::ModelOptions mo;
    mo.model_dir = model_dir;
    mo.num_threads = threads;
    mo.device = device;
    mo.precision = precision;
    auto model = sam3rt::Model::load(mo);
    const double load_s = seconds_since(t_load);
    const sam3rt::models::Modules& m = *model_impl(*model).modules;
    std::fprintf(stderr, "[sam3rt_bench] loaded %s (%s) in %.2f s, %d ATen threads, RSS %.0f MiB; LibTorch %s\n",
                 model_dir.c_str(), model->type_name().c_str(), load_s, at::get_num_threads(), rss_now_mib(),
                 sam3rt::nn::compat::build_description().c_str());
    std::fprintf(stderr, "[sam3rt_bench] compute path: %s\n", model->compute_path().c_str());

    const int64_t S = model->image_size();
    at::Tensor image_rgb;  // [H, W, 3] uint8 for image_pipeline (--image), else random
    if (!image_path.empty()) image_rgb = sam3rt::io::decode_image(image_path);
    std::vector<at::Tensor> video_frames;  // --video: its first 32 frames, decoded once
    if (!video_path.empty()) {
      auto src = sam3rt::open_frame_source(video_path);
      for (int64_t i = 0; i < std::min<int64_t>(src->num_frames(), 32); ++i) video_frames.push_back(src->frame(i));
    }
    // bench_reference.py's inputs (values differ: another generator; timing does not care).
    at::manual_seed(2);
    const at::Device dev = model_impl(*model).placement.device;
    bench_device = dev;
    const at::Tensor pixels = at::rand({1, 3, S, S}).mul_(2.0).sub_(1.0).to(dev);  // [1, 3, S, S] in [-1, 1]
    std::vector<int64_t> ids(32, 0);
    const std::vector<int64_t> cat_ids = {49406, 320, 1125, 539, 320, 2368, 49407};  // "a photo of a cat"
    std::copy(cat_ids.begin(), cat_ids.end(), ids.begin());
    const at::Tensor input_ids = at::tensor(ids, at::TensorOptions().dtype(at::kLong)).view({1, 32}).to(dev);
    const at::Tensor attention_mask = input_ids.ne(0).to(at::kLong);
    const at::Tensor boxes =
        at::tensor(std::vector<float>{0.40f, 0.45f, 0.30f, 0.35f, 0.70f, 0.30f, 0.20f, 0.25f}).view({1, 2, 4}).to(dev);
    const at::Tensor box_labels =
        at::tensor(std::vector<int64_t>{1, 0}, at::TensorOptions().dtype(at::kLong)).view({1, 2}).to(dev);

    json results = json::object();
    results["what"] = "sam3rt (C++, ATen) on a full-size random checkpoint: time per stage";
    results["model_dir"] = model_dir;
    results["model_type"] = model->type_name();
    results["random_weights"] = model->has_random_weights();
    results["aten_threads"] = at::get_num_threads();
    results["hardware_concurrency"] = std::thread::hardware_concurrency();
    results["load_s"] = load_s;
    results["allocator_tuning"] = {{"applied", tuning.applied}, {"reason", tuning.reason}};
    results["load_average_start"] = load_average();
    results["image_size"] = S;
    results["batch"] = 1;
    results["device"] = device;
    results["libtorch"] = sam3rt::nn::compat::build_description();
    results["precision"] = precision;
    results["compute_path"] = model->compute_path();
    results["geometry_without_boxes"] = !model->options().hf_text_only;
    std::vector<StageResult> done;
    json gemm;

    // Features computed once for the stages that need them (outside the timings).
    sam3rt::models::DetectorImageFeatures det_features;
    at::Tensor text_features, text_valid;
    sam3rt::models::TrackerImageFeatures tracker_features;
    auto need_detector_inputs = [&]() {
      if (det_features.fpn.empty()) det_features = sam3rt::models::encode_detector_image(m, pixels);
      if (!text_features.defined()) {
        text_features = sam3rt::models::encode_text(m, input_ids, attention_mask);
        text_valid = attention_mask.to(at::kBool);
      }
    };

    for (const std::string& stage : stages) {
      const int reps = reps_for(stage);
      if (stage == "gemm") {
        gemm = dev.is_cpu() ? measure_gemm(std::max(reps, 5), model_impl(*model).placement.matmul_dtype)
                            : measure_device_gemm(std::max(reps, 5), dev, model_impl(*model).placement.matmul_dtype);
      } else if (stage == "vision") {
        SAM3RT_CHECK(m.vision_backbone && m.detector, kUnsupported, "vision stage needs the detector");
        done.push_back(run_stage(stage, warmup, reps, [&](Breakdown& b) {
          auto t0 = Clock::now();
          at::Tensor vit = m.vision_backbone->forward(pixels);
          b["vit"] = device_seconds_since(t0);
          t0 = Clock::now();
          std::vector<at::Tensor> fpn = m.detector->neck.forward(vit);
          const at::Tensor& coarse = fpn.back();
          at::Tensor pos = sam3rt::nn::sine_position_grid(coarse.size(2), coarse.size(3), coarse.size(1), coarse.options());
          b["neck"] = device_seconds_since(t0);
        }, "ViT + detector FPN neck + sine position (= encode_detector_image)"));
      } else if (stage == "text") {
        done.push_back(run_stage(stage, warmup, reps, [&](Breakdown&) {
          at::Tensor t = sam3rt::models::encode_text(m, input_ids, attention_mask);
        }, "CLIP text encoder + projection, 32 tokens (no cache)"));
      } else if (stage == "detector_text" || stage == "detector_text_2boxes") {
        need_detector_inputs();
        const bool with_boxes = stage == "detector_text_2boxes";
        done.push_back(run_stage(stage, warmup, reps, [&](Breakdown& b) {
          sam3rt::models::DetectorPrompt p;
          p.text = text_features;
          p.text_valid = text_valid;
          p.geometry_without_boxes = !model->options().hf_text_only;
          if (with_boxes) {
            p.boxes = boxes;
            p.box_labels = box_labels;
          }
          const auto t0 = Clock::now();
          sam3rt::models::DetectorOutput out = sam3rt::models::detect(m, det_features, p);
          b[kStageTime] = device_seconds_since(t0);
          if (breakdown) detect_breakdown(m, det_features, p, b);
        }, with_boxes ? "geometry encoder (2 boxes + CLS), DETR encoder/decoder, scoring, segmentation head"
                      : "geometry encoder (CLS only, Meta semantics), DETR encoder/decoder, scoring, segmentation head"));
      } else if (stage == "e2e") {
        done.push_back(run_stage(stage, warmup, reps, [&](Breakdown& b) {
          auto t0 = Clock::now();
          sam3rt::models::DetectorImageFeatures f = sam3rt::models::encode_detector_image(m, pixels);
          b["vision"] = device_seconds_since(t0);
          t0 = Clock::now();
          sam3rt::models::DetectorPrompt p;
          p.text = sam3rt::models::encode_text(m, input_ids, attention_mask);
          p.text_valid = attention_mask.to(at::kBool);
          p.geometry_without_boxes = !model->options().hf_text_only;
          b["text"] = device_seconds_since(t0);
          t0 = Clock::now();
          sam3rt::models::DetectorOutput out = sam3rt::models::detect(m, f, p);
          b["detector"] = device_seconds_since(t0);
        }, "pixel values + token ids -> detector outputs (vision, text, detector; no pre/post-processing)"));
      } else if (stage == "tracker_embed") {
        SAM3RT_CHECK(m.tracker && m.frame_encoder, kUnsupported, "tracker stages need the tracker");
        done.push_back(run_stage(stage, warmup, reps, [&](Breakdown&) {
          tracker_features = sam3rt::models::encode_tracker_image(*m.tracker, *m.frame_encoder, pixels);
        }, m.vision_backbone ? "ViT + tracker neck + conv_s0/s1" : "Hiera + FPN neck + conv_s0/s1"));
      } else if (stage == "tracker_prompt") {
        SAM3RT_CHECK(m.tracker && m.frame_encoder, kUnsupported, "tracker stages need the tracker");
        if (tracker_features.levels.empty()) tracker_features = sam3rt::models::encode_tracker_image(*m.tracker, *m.frame_encoder, pixels);
        sam3rt::models::TrackerPrompts tp;
        tp.points = at::tensor(std::vector<float>{0.5f * S, 0.38f * S}).view({1, 1, 1, 2}).to(dev);
        tp.labels = at::tensor(std::vector<int64_t>{1}, at::TensorOptions().dtype(at::kLong)).view({1, 1, 1}).to(dev);
        done.push_back(run_stage(stage, warmup, reps, [&](Breakdown&) {
          sam3rt::models::TrackerPrediction p = sam3rt::models::predict_tracker(*m.tracker, tracker_features, tp, true);
        }, "prompt encoder + mask decoder, one point, 3 masks, cached image embedding"));
      } else if (stage == "tracker_session") {
        // The interactive loop through the public API (issue #4): set_image plus the first
        // click (which builds the tracker neck) is the encode; then one new click per run,
        // each answered with three masks at the image's resolution (more work than the
        // reference's tracker_prompt, which stops at the low-resolution logits).
        SAM3RT_CHECK(model->can_segment_objects(), kUnsupported, "tracker_session needs the tracker");
        const at::Tensor rgb = at::rand({S, S, 3}).mul_(255.0).to(at::kByte);
        sam3rt::ImageSession session(model);
        uint32_t lcg = 12345;
        auto next = [&]() {
          lcg = lcg * 1664525u + 1013904223u;
          return static_cast<float>((lcg >> 8) % static_cast<uint32_t>(S));
        };
        auto click = [&]() {
          sam3rt::ObjectPrompt p;
          p.points = {{next(), next()}};
          p.multimask = true;
          return p;
        };
        done.push_back(run_stage("tracker_session_encode", 0, 1, [&](Breakdown&) {
          session.set_image(rgb);
          (void)session.predict(click());
        }, "ImageSession::set_image + first click (ViT, tracker neck, one prompt)"));
        done.push_back(run_stage("tracker_session_prompt", 0, reps, [&](Breakdown&) { (void)session.predict(click()); },
                                 "ImageSession::predict: a new click each run, 3 masks at the image size"));
      } else if (stage == "image_pipeline") {
        // What a user's call costs: a decoded image (uint8, host memory) and a text to
        // masks, boxes and scores at the image's size. Preprocessing, ViT, neck,
        // tokenizing and the text encoder (not cached), detector, post-processing
        // (score threshold 0.5; with random weights usually nothing passes, so the masks
        // of the 5 best queries are upsampled too, as a real image's few instances would be).
        SAM3RT_CHECK(m.detector && model_impl(*model).tokenizer, kUnsupported, "image_pipeline needs the detector");
        const at::Tensor rgb = image_rgb.defined() ? image_rgb : at::rand({S, S, 3}).mul_(255.0).to(at::kByte);
        const auto& impl = model_impl(*model);
        done.push_back(run_stage(stage, warmup, reps, [&](Breakdown& b) {
          auto t0 = Clock::now();
          const at::Tensor px = sam3rt::pipeline::preprocess_image(rgb.to(dev), S);
          sam3rt::models::DetectorImageFeatures f = sam3rt::models::encode_detector_image(m, px);
          b["vision"] = device_seconds_since(t0);
          t0 = Clock::now();
          const auto enc = impl.tokenizer->encode(text_prompt, 32);
          const at::Tensor ids = at::tensor(enc.ids, at::TensorOptions().dtype(at::kLong)).view({1, -1}).to(dev);
          const at::Tensor mask =
              at::tensor(enc.attention_mask, at::TensorOptions().dtype(at::kLong)).view({1, -1}).to(dev);
          sam3rt::models::DetectorPrompt p;
          p.text = sam3rt::models::encode_text(m, ids, mask);
          p.text_valid = mask.to(at::kBool);
          p.geometry_without_boxes = !model->options().hf_text_only;
          b["text"] = device_seconds_since(t0);
          t0 = Clock::now();
          sam3rt::models::DetectorOutput out = sam3rt::models::detect(m, f, p);
          b["detector"] = device_seconds_since(t0);
          t0 = Clock::now();
          sam3rt::SegmentOptions so;
          std::vector<sam3rt::Instance> inst = sam3rt::pipeline::postprocess_detections(
              out.pred_logits[0], out.presence_logits[0], out.pred_boxes[0], out.pred_masks[0], rgb.size(0),
              rgb.size(1), text_prompt, so);
          if (inst.empty()) {
            so.score_threshold = -1.0f;
            so.max_instances = 5;
            inst = sam3rt::pipeline::postprocess_detections(out.pred_logits[0], out.presence_logits[0],
                                                            out.pred_boxes[0], out.pred_masks[0], rgb.size(0),
                                                            rgb.size(1), text_prompt, so);
          }
          b["postprocess"] = device_seconds_since(t0);
        }, "decoded image + text -> instances at image size (preprocess, ViT, neck, tokenize, text encoder, detector, "
           "postprocess)"));
      } else if (stage == "video") {
        // Tracking objects through frames held in memory (no decoding): boxes on frame 0 in
        // a row across the middle, then propagate; the time per frame is the time between
        // two frames' results (preprocess, ViT, neck, memory attention, decoder, memory
        // encoder, post-processing at the frame's size, per object), after 3 frames of
        // warm-up.
        SAM3RT_CHECK(m.tracker && m.tracker->memory, kUnsupported,
                     "the video stage needs a video model (sam3_video or sam2_video)");
        for (const int objects : video_objects) {
          const int64_t frames = video_frame_count > 0 ? video_frame_count : std::max<int64_t>(reps, 20) + 4;
          std::vector<at::Tensor> held;
          for (int64_t i = 0; i < frames; ++i) {
            held.push_back(video_frames.empty() ? at::rand({720, 1280, 3}).mul_(255.0).to(at::kByte)
                                                : video_frames[static_cast<size_t>(i) % video_frames.size()]);
          }
          StageResult r;
          r.name = "video_" + std::to_string(objects) + "obj";
          r.note = std::to_string(objects) + " object(s) from boxes on frame 0, " + std::to_string(frames) +
                   " frames of " + std::to_string(held[0].size(1)) + "x" + std::to_string(held[0].size(0)) +
                   " held in memory; time between consecutive frames' results";
          std::fprintf(stderr, "[sam3rt_bench] %s: %lld frames ...\n", r.name.c_str(), static_cast<long long>(frames));
          wait_for_device();
          sam3rt::nn::compat::reset_peak_memory(dev);
          sam3rt::VideoSession vs(model, std::make_unique<HeldFrames>(held));
          const float w = static_cast<float>(held[0].size(1)), h = static_cast<float>(held[0].size(0));
          for (int o = 0; o < objects; ++o) {
            const float x0 = w * (0.05f + 0.9f * static_cast<float>(o) / static_cast<float>(objects));
            const float x1 = x0 + w * 0.8f / static_cast<float>(objects);
            vs.add_box(0, o + 1, sam3rt::Box{x0, h * 0.35f, x1, h * 0.65f, true});
          }
          std::vector<double> stamps;
          vs.propagate([&](const sam3rt::TrackFrame&) {
            wait_for_device();
            stamps.push_back(seconds_since(Clock::time_point{}));
            return true;
          });
          for (size_t i = 1; i < stamps.size(); ++i) (i <= 3 ? r.warmup_s : r.times_s).push_back(stamps[i] - stamps[i - 1]);
          r.peak_rss_mib = peak_rss_mib();
          r.rss_end_mib = rss_now_mib();
          const int64_t peak = sam3rt::nn::compat::peak_memory_bytes(dev);
          if (peak >= 0) r.peak_device_mib = static_cast<double>(peak) / (1024.0 * 1024.0);
          if (!r.times_s.empty()) {
            std::fprintf(stderr, "[sam3rt_bench] %s: median %.4f s per frame (%.1f frames/s), device peak %.0f MiB\n",
                         r.name.c_str(), median(r.times_s), 1.0 / median(r.times_s), r.peak_device_mib);
          }
          done.push_back(r);
        }
      } else if (stage == "attention") {
        // Attention alone at the ViT-global, DETR-encoder and ViT-window shapes.
        struct Case {
          const char* name;
          int64_t heads, tokens, dim;
        };
        for (const Case c : {Case{"vit_global", 16, 5184, 64}, Case{"detr_encoder", 8, 5184, 32},
                             Case{"vit_windows", 16, 576, 64}}) {
          const int64_t batch = std::string(c.name) == "vit_windows" ? 9 : 1;
          // On a GPU in the model's matmul dtype, as Attention::attend runs it there.
          const auto aopts = at::TensorOptions().device(dev).dtype(dev.is_cpu() ? at::kFloat
                                                                                : model_impl(*model).placement.matmul_dtype);
          const at::Tensor q = at::randn({batch, c.tokens, c.heads, c.dim}, aopts).transpose(1, 2);
          const at::Tensor k = at::randn({batch, c.tokens, c.heads, c.dim}, aopts).transpose(1, 2);
          const at::Tensor v = at::randn({batch, c.tokens, c.heads, c.dim}, aopts).transpose(1, 2);
          // fp32 on x86 takes the fused kernel, which has no score budget; run with
          // SAM3RT_FUSED_ATTENTION=off to time the chunked path instead.
          done.push_back(run_stage(std::string("attention_") + c.name, warmup, reps, [&](Breakdown&) {
            at::Tensor o = sam3rt::nn::scaled_dot_product_attention(q, k, v, {}, 0.125);
          }));
        }
      } else if (stage == "vit_blocks") {
        // One windowed and one global block bound from the checkpoint's first two layers.
        sam3rt::io::WeightStore store(model_impl(*model).file);
        store.set_placement(model_impl(*model).placement);
        const sam3rt::VitConfig& full = m.vision_backbone->config();
        std::string prefix = "detector_model.vision_encoder.backbone";
        if (model->type_name() == "sam3_tracker") prefix = "tracker_model." + prefix;
        sam3rt::VitConfig c1 = full, c2 = full;
        c1.num_hidden_layers = 1;
        c1.global_attn_indexes = {};
        c2.num_hidden_layers = 2;
        c2.global_attn_indexes = {1};
        sam3rt::models::VisionBackbone vit1(c1, store.scope(prefix));
        sam3rt::models::VisionBackbone vit2(c2, store.scope(prefix));
        done.push_back(run_stage(stage, warmup, reps, [&](Breakdown& b) {
          auto t0 = Clock::now();
          at::Tensor x = vit1.forward(pixels);
          b["embed+windowed"] = device_seconds_since(t0);
          t0 = Clock::now();
          x = vit2.forward(pixels);
          b["embed+windowed+global"] = device_seconds_since(t0);
        }, "two truncated backbones: patch embedding + 1 windowed block, then + 1 global block"));
      } else {
        SAM3RT_FAIL(kInvalidArgument, "unknown stage '", stage, "'");
      }
    }

    // Derived figures.
    double gemm_best = 0;
    for (const auto& [k, v] : gemm.items()) gemm_best = std::max(gemm_best, v["gflops_best"].get<double>());
    const double vflop = m.vision_backbone ? vit_flop(m.vision_backbone->config()) : 0.0;  // SAM 2: no ViT
    results["vit_flop"] = vflop;
    results["gemm"] = gemm;
    results["gemm_best_gflops"] = gemm_best;
    json js = json::array();
    for (const StageResult& r : done) {
      json j;
      j["stage"] = r.name;
      j["note"] = r.note;
      j["warmup_s"] = r.warmup_s;
      j["times_s"] = r.times_s;
      j["reps"] = r.times_s.size();
      if (!r.times_s.empty()) {
        j["median_s"] = median(r.times_s);
        j["min_s"] = *std::min_element(r.times_s.begin(), r.times_s.end());
        j["max_s"] = *std::max_element(r.times_s.begin(), r.times_s.end());
      }
      json bd = json::object();
      for (const auto& [k, v] : r.breakdown_s) bd[k] = median(v);
      j["breakdown_median_s"] = bd;
      j["peak_rss_mib"] = r.peak_rss_mib;
      j["rss_end_mib"] = r.rss_end_mib;
      if (r.peak_device_mib >= 0) j["peak_device_mib"] = r.peak_device_mib;
      j["cpu_time_timed_reps_s"] = {{"user", r.cpu.user}, {"system", r.cpu.system}, {"minor_page_faults", r.cpu.minor_faults}};
      if (r.name == "vision" && r.breakdown_s.count("vit")) {
        const double t = median(r.breakdown_s.at("vit"));
        j["vit_gflops"] = vflop / t / 1e9;
        if (gemm_best > 0) j["vit_pct_of_gemm"] = 100.0 * vflop / t / 1e9 / gemm_best;
      }
      js.push_back(j);
    }
    results["stages"] = js;
    results["peak_rss_mib"] = peak_rss_mib();
    results["load_average_end"] = load_average();

    // Table.
    std::ostringstream md;
    md << "| stage | reps | median s | min s | max s | peak RSS MiB (process so far) | device peak MiB | CPU s per run (system share) | breakdown (median s) |\n";
    md << "|---|---|---|---|---|---|---|---|---|\n";
    for (const json& j : js) {
      if (!j.contains("median_s")) continue;
      const double tot = j["cpu_time_timed_reps_s"]["user"].get<double>() + j["cpu_time_timed_reps_s"]["system"].get<double>();
      std::string bd;
      for (const auto& [k, v] : j["breakdown_median_s"].items()) bd += (bd.empty() ? "" : ", ") + k + " " + fmt(v.get<double>());
      md << "| " << j["stage"].get<std::string>() << " | " << j["reps"].get<size_t>() << " | "
         << fmt(j["median_s"].get<double>(), 4) << " | " << fmt(j["min_s"].get<double>(), 4) << " | "
         << fmt(j["max_s"].get<double>(), 4) << " | " << fmt(j["peak_rss_mib"].get<double>(), 0) << " | "
         << (j.contains("peak_device_mib") ? fmt(j["peak_device_mib"].get<double>(), 0) : std::string("-")) << " | "
         << fmt(tot / std::max<double>(1.0, static_cast<double>(j["reps"].get<size_t>())), 1) << " ("
         << (tot > 0 ? fmt(100.0 * j["cpu_time_timed_reps_s"]["system"].get<double>() / tot, 0) + "%" : "-") << ") | "
         << bd << " |\n";
    }
    md << "\n";
    if (gemm_best > 0) {
      md << precision << " GEMM (best of at::mm and sam3rt's own GEMM, this run): best " << fmt(gemm_best, 1)
         << " GFLOP/s\n";
    }
    for (const json& j : js) {
      if (j.contains("vit_gflops")) {
        md << "ViT: " << fmt(vflop / 1e12, 2) << " TFLOP in " << fmt(j["breakdown_median_s"]["vit"].get<double>(), 2)
           << " s = " << fmt(j["vit_gflops"].get<double>(), 1) << " GFLOP/s";
        if (j.contains("vit_pct_of_gemm")) md << " (" << fmt(j["vit_pct_of_gemm"].get<double>(), 0) << "% of the GEMM rate)";
        md << "\n";
      }
    }
    md << "allocator tuning: " << (tuning.applied ? "applied" : "not applied") << " (" << tuning.reason << ")\n";
    md << "ATen threads " << at::get_num_threads() << "; load average at start " << results["load_average_start"].get<std::string>()
       << ", at end " << results["load_average_end"].get<std::string>() << "; process peak RSS "
       << fmt(results["peak_rss_mib"].get<double>(), 0) << " MiB\n";
    std::cout << "## " << precision << "\n\ncompute path: " << model->compute_path() << "\n\n" << md.str() << std::flush;
    all_md += "## " + precision + "\n\ncompute path: " + model->compute_path() + "\n\n" + md.str() + "\n";
    all_runs.push_back(results);
   }
    json out = all_runs.size() == 1 ? all_runs[0] : json{{"runs", all_runs}};
    if (all_runs.size() > 1) {
      const std::string ratios = ratio_table(all_runs, out);
      std::cout << ratios << std::flush;
      all_md += ratios;
    }
    if (!json_path.empty()) {
      std::ofstream f(json_path);
      f << out.dump(1) << "\n";
    }
    if (!md_path.empty()) {
      std::ofstream f(md_path);
      f << "# sam3rt benchmark (" << device << ", " << precision_list << ")\n\n" << all_md;
    }
  } catch (const sam3rt::Error& e) {
    std::fprintf(stderr, "sam3rt_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
