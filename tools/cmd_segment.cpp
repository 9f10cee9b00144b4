// sam3rt segment: concept segmentation (text and/or exemplar boxes -> every instance)
// and, with the tracker, object segmentation (points / box / mask -> one object).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

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

namespace {

struct SegmentArgs {
  std::string model, image, out, mode;
  std::vector<std::string> texts, boxes, points;
  std::string mask_input;
  bool multimask = false, best = false, hf_text_only = false;
  float threshold = 0.5f;
  float nms = -1.0f;
  int threads = 0;
};

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  SAM3RT_CHECK(out.good(), kIo, path.string(), ": cannot write");
  out << text;
  SAM3RT_CHECK(out.good(), kIo, path.string(), ": write failed");
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
    SAM3RT_FAIL(kUnsupported, "--mode object (points, box or mask input -> one object) needs the interactive "
                              "tracker, which this build does not include yet");
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

  const auto t_load = std::chrono::steady_clock::now();
  ModelOptions mo;
  mo.model_dir = a.model;
  mo.num_threads = a.threads;
  mo.hf_text_only = a.hf_text_only;
  auto model = Model::load(mo);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();
  if (model->has_random_weights()) {
    std::fprintf(stderr, "sam3rt: note: %s has random weights: its masks are meaningless (use facebook/sam3 for "
                         "real results)\n", a.model.c_str());
  }
  const at::Tensor rgb = io::decode_image(a.image);
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
  cmd->add_option("--mask-input", a->mask_input, "mask PNG (object mode)");
  cmd->add_flag("--multimask", a->multimask, "object mode: three candidate masks");
  cmd->add_flag("--best", a->best, "object mode: keep only the best candidate");
  cmd->add_option("--threshold", a->threshold, "score threshold for concept instances")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--nms", a->nms, "suppress instances whose mask IoU with a better one exceeds this")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--hf-text-only", a->hf_text_only,
                "transformers' text-only path (no geometry CLS token) instead of Meta's");
  cmd->callback([&exit_code, a] {
    run_segment(*a);
    exit_code = 0;
  });
}

}  // namespace sam3rt::cli
