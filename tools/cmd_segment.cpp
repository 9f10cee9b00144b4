// sam3rt segment: concept segmentation (text and/or exemplar boxes -> every instance)
// and, with the tracker, object segmentation (points / box / mask -> one object).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "model_flags.h"
#include "sam3rt/sam3rt.h"

namespace sam3rt::cli {

namespace fs = std::filesystem;

namespace {

// "a,b,c" -> {"a", "b", "c"}.
std::vector<std::string> fields(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) parts.push_back(item);
  return parts;
}

// The first `n` fields of `option`'s argument `text` as numbers.
std::vector<float> numbers(const std::vector<std::string>& parts, size_t n, const char* option, const std::string& text) {
  std::vector<float> v;
  for (size_t i = 0; i < n; ++i) {
    size_t used = 0;
    float x = 0;
    try {
      x = std::stof(parts[i], &used);
    } catch (const std::exception&) {
      used = 0;
    }
    SAM3RT_CHECK(used == parts[i].size() && used > 0, kInvalidArgument, option, " '", text, "': '", parts[i],
                 "' is not a number");
    v.push_back(x);
  }
  return v;
}

}  // namespace

// "x1,y1,x2,y2[,neg|pos]" -> Box.
Box parse_box(const std::string& text) {
  const auto parts = fields(text);
  SAM3RT_CHECK(parts.size() == 4 || parts.size() == 5, kInvalidArgument, "--box '", text,
               "': expected x1,y1,x2,y2 or x1,y1,x2,y2,neg");
  const auto v = numbers(parts, 4, "--box", text);
  Box b{v[0], v[1], v[2], v[3], true};
  if (parts.size() == 5) {
    SAM3RT_CHECK(parts[4] == "neg" || parts[4] == "pos", kInvalidArgument, "--box '", text,
                 "': the fifth field must be neg or pos");
    b.positive = parts[4] == "pos";
  }
  return b;
}

// "x,y[,pos|neg|1|0]" -> Point (pixels of the original image; default positive).
Point parse_point(const std::string& text) {
  const auto parts = fields(text);
  SAM3RT_CHECK(parts.size() == 2 || parts.size() == 3, kInvalidArgument, "--point '", text,
               "': expected x,y or x,y,neg");
  const auto v = numbers(parts, 2, "--point", text);
  Point p{v[0], v[1], true};
  if (parts.size() == 3) {
    const std::string& l = parts[2];
    SAM3RT_CHECK(l == "pos" || l == "neg" || l == "1" || l == "0", kInvalidArgument, "--point '", text,
                 "': the label '", l, "' must be pos (1) or neg (0)");
    p.positive = l == "pos" || l == "1";
  }
  return p;
}

namespace {

struct SegmentArgs {
  ModelOptions model;
  std::string image, out, mode;
  std::vector<std::string> texts, boxes, points;
  std::string mask_input;
  bool multimask = false, best = false, no_timings = false;
  float threshold = 0.5f;
  float nms = -1.0f;
};

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  SAM3RT_CHECK(out.good(), kIo, path.string(), ": cannot write");
  out << text;
  SAM3RT_CHECK(out.good(), kIo, path.string(), ": write failed");
}

// The flags as the library's request; ImageSession::run decides the mode and checks it.
SegmentRequest request_from_flags(const SegmentArgs& a, int64_t height, int64_t width) {
  SegmentRequest r;
  r.mode = a.mode;
  r.texts = a.texts;
  for (const auto& b : a.boxes) r.boxes.push_back(parse_box(b));
  for (const auto& p : a.points) r.points.push_back(parse_point(p));
  if (!a.mask_input.empty()) {
    r.mask_input = decode_mask(a.mask_input, width, height);
    r.mask_input_name = a.mask_input;
  }
  if (a.multimask) r.multimask = true;
  r.best = a.best;
  r.options.score_threshold = a.threshold;
  if (a.nms >= 0) {
    r.options.nms = true;
    r.options.nms_iou = a.nms;
  }
  return r;
}

void run_segment(const SegmentArgs& a) {
  // The image first: a bad file fails before the model is loaded.
  const at::Tensor rgb = decode_image(a.image);
  const SegmentRequest request = request_from_flags(a, rgb.size(0), rgb.size(1));
  resolve_mode(request);  // an ambiguous or inconsistent request fails before the model loads
  const auto t_load = std::chrono::steady_clock::now();
  auto model = Model::load(a.model);
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();
  ImageSession session(model);
  session.set_image(rgb);
  ImageAnswer answer = session.run(request);
  answer.timings_ms["load_model"] = load_ms;

  fs::create_directories(a.out);
  write_png((fs::path(a.out) / "overlay.png").string(), draw_overlay(rgb, answer.instances));
  for (size_t i = 0; i < answer.instances.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "mask_%03zu.png", i);
    write_png((fs::path(a.out) / name).string(), answer.instances[i].mask.to(at::kByte).mul(255));
  }
  JsonOptions jo;
  jo.timings = !a.no_timings;
  write_text(fs::path(a.out) / "result.json", answer_json(answer, jo));

  // After the work, so that a failure stays one line on stderr.
  if (model->has_random_weights()) note_random_weights(a.model.model_dir);
  note_compute_path(*model);
  const size_t n = answer.instances.size();
  if (answer.mode == "object") {
    const CandidateInfo& best = answer.candidates.front();
    std::printf("%zu mask%s (best: IoU %.3f, object score %.3f, %lld px)", n, n == 1 ? "" : "s", best.iou,
                best.object_score, static_cast<long long>(answer.instances.front().area));
  } else {
    std::printf("%zu instance%s", n, n == 1 ? "" : "s");
  }
  for (const auto& [k, v] : answer.timings_ms) std::printf("  %s %.1f ms", k.c_str(), v);
  std::printf("\nwrote %s/overlay.png, %s/result.json and %zu mask PNGs\n", a.out.c_str(), a.out.c_str(), n);
}

}  // namespace

void add_segment_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("segment", "Segment an image from a text, exemplar boxes, points or a mask");
  auto a = std::make_shared<SegmentArgs>();
  add_model_flags(cmd, a->model, "transformers' text-only path (no geometry CLS token) instead of Meta's");
  cmd->add_option("--image", a->image, "input image (JPEG or PNG)")->required();
  cmd->add_option("--out", a->out, "output folder")->required();
  cmd->add_option("--mode", a->mode, "concept (every instance) or object (one object)");
  cmd->add_option("--text", a->texts, "concept text; repeat for several concepts");
  cmd->add_option("--box", a->boxes, "box x1,y1,x2,y2[,neg] in pixels; repeat");
  cmd->add_option("--point", a->points, "point x,y[,neg] in pixels (object mode); repeat");
  cmd->add_option("--mask-input", a->mask_input,
                  "object mode: a mask PNG of the image's size (e.g. a previous mask_000.png, to refine)");
  cmd->add_flag("--multimask", a->multimask,
                "object mode: three candidate masks (the default for a single point without a box)");
  cmd->add_flag("--best", a->best, "object mode: keep only the candidate with the highest predicted IoU");
  cmd->add_option("--threshold", a->threshold, "score threshold for concept instances")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--nms", a->nms, "suppress instances whose mask IoU with a better one exceeds this")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--no-timings", a->no_timings, "leave timings_ms out of result.json (for comparable output)");
  cmd->callback([&exit_code, a] {
    run_segment(*a);
    exit_code = 0;
  });
}

}  // namespace sam3rt::cli
