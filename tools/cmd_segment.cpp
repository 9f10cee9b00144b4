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
#include "io/image.h"
#include "render/overlay.h"
#include "render/result_json.h"
#include "sam3rt/sam3rt.h"

namespace sam3rt::cli {

namespace fs = std::filesystem;

// "x1,y1,x2,y2[,neg|pos]" -> Box.
Box parse_box(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) parts.push_back(item);
  SAM3RT_CHECK(parts.size() == 4 || parts.size() == 5, kInvalidArgument, "--box '", text,
               "': expected x1,y1,x2,y2 or x1,y1,x2,y2,neg");
  Box b;
  float* v[4] = {&b.x1, &b.y1, &b.x2, &b.y2};
  for (int i = 0; i < 4; ++i) {
    size_t used = 0;
    try {
      *v[i] = std::stof(parts[i], &used);
    } catch (const std::exception&) {
      used = 0;
    }
    SAM3RT_CHECK(used == parts[i].size() && used > 0, kInvalidArgument, "--box '", text, "': '", parts[i],
                 "' is not a number");
  }
  if (parts.size() == 5) {
    SAM3RT_CHECK(parts[4] == "neg" || parts[4] == "pos", kInvalidArgument, "--box '", text,
                 "': the fifth field must be neg or pos");
    b.positive = parts[4] == "pos";
  }
  return b;
}

// "x,y[,pos|neg|1|0]" -> Point (pixels of the original image; default positive).
Point parse_point(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) parts.push_back(item);
  SAM3RT_CHECK(parts.size() == 2 || parts.size() == 3, kInvalidArgument, "--point '", text,
               "': expected x,y or x,y,neg");
  Point p;
  float* v[2] = {&p.x, &p.y};
  for (int i = 0; i < 2; ++i) {
    size_t used = 0;
    try {
      *v[i] = std::stof(parts[i], &used);
    } catch (const std::exception&) {
      used = 0;
    }
    SAM3RT_CHECK(used == parts[i].size() && used > 0, kInvalidArgument, "--point '", text, "': '", parts[i],
                 "' is not a number");
  }
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
  std::string model, image, out, mode;
  std::vector<std::string> texts, boxes, points;
  std::string mask_input;
  bool multimask = false, best = false, hf_text_only = false;
  float threshold = 0.5f;
  float nms = -1.0f;
  int threads = 0;
  std::string device = "cpu", precision = "fp32";
};

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  SAM3RT_CHECK(out.good(), kIo, path.string(), ": cannot write");
  out << text;
  SAM3RT_CHECK(out.good(), kIo, path.string(), ": write failed");
}

std::shared_ptr<const Model> load_model(const SegmentArgs& a, double& load_ms) {
  const auto t_load = std::chrono::steady_clock::now();
  ModelOptions mo;
  mo.model_dir = a.model;
  mo.num_threads = a.threads;
  mo.device = a.device;
  mo.precision = a.precision;
  mo.hf_text_only = a.hf_text_only;
  auto model = Model::load(mo);
  load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();
  return model;
}

void note_random_weights(const Model& model, const SegmentArgs& a) {
  if (model.has_random_weights()) {
    std::fprintf(stderr, "sam3rt: note: %s has random weights: its masks are meaningless (use facebook/sam3 for "
                         "real results)\n", a.model.c_str());
  }
}

// Object mode: points / one box / a mask -> one object's candidate masks.
void run_object(const SegmentArgs& a) {
  SAM3RT_CHECK(a.texts.empty(), kInvalidArgument, "--text belongs to --mode concept");
  SAM3RT_CHECK(a.boxes.size() <= 1, kInvalidArgument, "object mode takes at most one --box (got ", a.boxes.size(),
               ")");
  ObjectPrompt prompt;
  for (const auto& p : a.points) prompt.points.push_back(parse_point(p));
  if (!a.boxes.empty()) {
    prompt.box = parse_box(a.boxes[0]);
    SAM3RT_CHECK(prompt.box->positive, kInvalidArgument, "an object-mode --box cannot be negative");
  }
  SAM3RT_CHECK(!prompt.points.empty() || prompt.box || !a.mask_input.empty(), kInvalidArgument,
               "object mode needs --point, --box or --mask-input");
  // The image first: a bad file fails before the model is loaded.
  const at::Tensor rgb = io::decode_image(a.image);
  const int64_t height = rgb.size(0), width = rgb.size(1);
  if (!a.mask_input.empty()) {
    const at::Tensor m = io::decode_image(a.mask_input);
    SAM3RT_CHECK(m.size(0) == height && m.size(1) == width, kInvalidArgument, "--mask-input ", a.mask_input, " is ",
                 m.size(1), "x", m.size(0), " but the image is ", width, "x", height);
    prompt.mask_input = m.select(2, 0).gt(127);
  }
  // SAM's rule: one click alone is ambiguous (three candidates); more context, one mask.
  prompt.multimask = a.multimask || (prompt.points.size() == 1 && !prompt.box);

  double load_ms = 0;
  auto model = load_model(a, load_ms);
  ImageSession session(model);
  session.set_image(rgb);
  ObjectResult r = session.predict(prompt);

  // Candidates by IoU, highest first (mask_000.png is the best); --best keeps that one.
  r.timings_ms["load_model"] = load_ms;
  render::ObjectResultJson rendered = render::object_result_json(r, a.best);
  const SegmentResult& out = rendered.instances;

  fs::create_directories(a.out);
  io::write_png((fs::path(a.out) / "overlay.png").string(), render::draw_overlay(rgb, out.instances));
  for (size_t i = 0; i < out.instances.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "mask_%03zu.png", i);
    io::write_png((fs::path(a.out) / name).string(), out.instances[i].mask.to(at::kByte).mul(255));
  }
  // result.json: the concept layout, with each mask's IoU, object score and decoder slot
  // in place of the concept score and presence.
  nlohmann::ordered_json& j = rendered.json;
  j["model"] = model->type_name();
  j["prompt"] = render::object_prompt_json(
      prompt, a.mask_input.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(a.mask_input));
  if (model->has_random_weights()) j["note"] = "random-weight checkpoint: masks are meaningless";
  write_text(fs::path(a.out) / "result.json", j.dump(2) + "\n");

  // After the work, so that a failure stays one line on stderr.
  note_random_weights(*model, a);
  const ObjectMask& best = r.candidates[r.best];
  std::printf("%zu mask%s (best: IoU %.3f, object score %.3f, %lld px)", out.instances.size(),
              out.instances.size() == 1 ? "" : "s", best.iou, best.object_score, static_cast<long long>(best.area));
  for (const auto& [k, v] : out.timings_ms) std::printf("  %s %.1f ms", k.c_str(), v);
  std::printf("\nwrote %s/overlay.png, %s/result.json and %zu mask PNGs\n", a.out.c_str(), a.out.c_str(),
              out.instances.size());
}

void run_segment(const SegmentArgs& a) {
  std::string mode = a.mode;
  if (mode.empty()) {
    if (!a.points.empty() || !a.mask_input.empty()) mode = "object";
    else if (!a.texts.empty()) mode = "concept";
    else if (!a.boxes.empty()) {
      SAM3RT_FAIL(kInvalidArgument,
                  "boxes alone are ambiguous: add --mode concept (find every instance like the exemplar boxes) or "
                  "--mode object (segment the one object in the box)");
    } else {
      SAM3RT_FAIL(kInvalidArgument, "no prompt: give --text, --box, --point or --mask-input");
    }
  }
  SAM3RT_CHECK(mode == "concept" || mode == "object", kInvalidArgument, "--mode must be concept or object, not '",
               mode, "'");
  if (mode == "object") {
    run_object(a);
    return;
  }
  SAM3RT_CHECK(a.points.empty() && a.mask_input.empty(), kInvalidArgument,
               "--point and --mask-input belong to --mode object");
  SAM3RT_CHECK(!a.texts.empty() || !a.boxes.empty(), kInvalidArgument, "concept mode needs --text and/or --box");
  SAM3RT_CHECK(a.boxes.empty() || a.texts.size() <= 1, kInvalidArgument,
               "exemplar boxes go with a single --text (got ", a.texts.size(), ")");

  std::vector<ConceptPrompt> prompts;
  std::vector<Box> boxes;
  for (const auto& b : a.boxes) boxes.push_back(parse_box(b));
  if (a.texts.empty()) prompts.push_back({"", boxes});
  for (const auto& t : a.texts) {
    SAM3RT_CHECK(!t.empty(), kInvalidArgument, "--text must not be empty");
    prompts.push_back({t, boxes});
  }

  double load_ms = 0;
  const at::Tensor rgb = io::decode_image(a.image);  // before the model: fail fast
  auto model = load_model(a, load_ms);
  SAM3RT_CHECK(model->can_segment_concepts(), kUnsupported, a.model, ": model type ", model->type_name(),
               " has no concept detector (use a sam3 or sam3_video checkpoint, or --mode object)");
  ImageSession session(model);
  session.set_image(rgb);
  SegmentOptions so;
  so.score_threshold = a.threshold;
  if (a.nms >= 0) {
    so.nms = true;
    so.nms_iou = a.nms;
  }
  std::vector<SegmentResult> results = session.segment(prompts, so);

  SegmentResult all;
  all.width = rgb.size(1);
  all.height = rgb.size(0);
  all.timings_ms["load_model"] = load_ms;
  for (auto& r : results) {
    for (const auto& [k, v] : r.timings_ms) all.timings_ms[k] += (k == "vision_encoder" && &r != &results[0]) ? 0 : v;
    for (auto& inst : r.instances) all.instances.push_back(std::move(inst));
  }
  std::stable_sort(all.instances.begin(), all.instances.end(),
                   [](const Instance& x, const Instance& y) { return x.score > y.score; });

  fs::create_directories(a.out);
  io::write_png((fs::path(a.out) / "overlay.png").string(), render::draw_overlay(rgb, all.instances));
  for (size_t i = 0; i < all.instances.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "mask_%03zu.png", i);
    io::write_png((fs::path(a.out) / name).string(), all.instances[i].mask.to(at::kByte).mul(255));
  }
  std::string extra = std::string("{\"mode\": \"concept\", \"model\": \"") + model->type_name() + "\"";
  if (model->has_random_weights()) extra += ", \"note\": \"random-weight checkpoint: masks are meaningless\"";
  extra += "}";
  write_text(fs::path(a.out) / "result.json", render::result_json(all, extra));
  note_random_weights(*model, a);  // after the work, so a failure stays one line on stderr
  std::printf("%zu instance%s", all.instances.size(), all.instances.size() == 1 ? "" : "s");
  for (const auto& [k, v] : all.timings_ms) std::printf("  %s %.1f ms", k.c_str(), v);
  std::printf("\nwrote %s/overlay.png, %s/result.json and %zu mask PNGs\n", a.out.c_str(), a.out.c_str(),
              all.instances.size());
}

}  // namespace

void add_segment_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("segment", "Segment an image from a text, exemplar boxes, points or a mask");
  auto a = std::make_shared<SegmentArgs>();
  cmd->add_option("--model", a->model, "model folder (config.json + model.safetensors)")->required();
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
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N (needs a CUDA build)");
  cmd->add_option("--precision", a->precision, "fp32, or bf16 matrix products (norms, softmax, scores stay fp32)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_flag("--hf-text-only", a->hf_text_only,
                "transformers' text-only path (no geometry CLS token) instead of Meta's");
  cmd->callback([&exit_code, a] {
    run_segment(*a);
    exit_code = 0;
  });
}

}  // namespace sam3rt::cli
