#include "pipeline/verify_video.h"

#include <ATen/ops/tensor.h>
#include <ATen/ops/upsample_bilinear2d.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/config.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/modules.h"
#include "models/tracker/video_tracker.h"
#include "pipeline/placement.h"
#include "sam3rt/error.h"

namespace sam3rt::pipeline {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;  // keeps the cases in the file's order
using NamedTensors = std::map<std::string, at::Tensor>;


// The folder holding config.json, model.safetensors and the video frames: this one if it
// has a checkpoint, else the one index.json's "checkpoint" names (relative to the parent).
fs::path model_folder(const fs::path& dir, const Json& index) {
  if (fs::exists(dir / "model.safetensors") && fs::exists(dir / "config.json")) return dir;
  const std::string checkpoint = index.value("checkpoint", std::string());
  const std::string file = checkpoint.substr(0, checkpoint.find(' '));
  SAM3RT_CHECK(!file.empty(), kCorruption, (dir / "index.json").string(), ": no checkpoint named");
  const fs::path folder = (dir.parent_path() / file).parent_path();
  SAM3RT_CHECK(fs::exists(folder / "model.safetensors") && fs::exists(folder / "config.json"), kNotFound,
               folder.string(), ": the fixture's checkpoint folder (config.json, model.safetensors) is missing");
  return folder;
}

struct Prompt {
  at::Tensor points, labels;  // [1, 1, N, 2], [1, 1, N]
  bool used = false;
};

// The intermediates of one track() call under the reference's names: "<module>" for the
// first call in the frame, "<module>#call<k>" for the k-th further one.
NamedTensors trace_names(const models::VideoTrackerTrace& t) {
  NamedTensors out;
  std::map<std::string, int> calls;
  auto name = [&](const std::string& module) {
    const int k = calls[module]++;
    return module + (k ? "#call" + std::to_string(k) : "");
  };
  for (const models::VideoTrackerTrace::ObjectStep& s : t.objects) {
    if (s.memory_attention.defined()) out[name("memory_attention")] = s.memory_attention;
    const std::string pe = name("prompt_encoder");
    out[pe + ".0"] = s.prompts.prompts.sparse;
    out[pe + ".1"] = s.prompts.prompts.dense;
    const std::string md = name("mask_decoder");
    out[md + ".0"] = s.decoder.masks;
    out[md + ".1"] = s.decoder.iou_scores;
    out[md + ".2"] = s.decoder.sam_tokens;
    out[md + ".3"] = s.decoder.object_score_logits;
    out[name("object_pointer_proj")] = s.object_pointer_proj;
  }
  if (t.memory_features.defined()) {
    const std::string me = name("memory_encoder");
    out[me + ".0"] = t.memory_features;
    out[me + ".1"] = t.memory_pos;
  }
  return out;
}

}  // namespace

void verify_tracker_video(const std::string& dir_string, const VerifyOptions& options,
                          const std::function<void(const TensorComparison&)>& on_result,
                          const std::function<void(const std::string&)>& on_skip) {
  const fs::path dir(dir_string);
  const Json index = read_fixture_index(dir_string, {"sam3_tracker_video", "sam2_tracker_video"});
  const fs::path mdir = model_folder(dir, index);
  const auto modules = bind_fixture_model(mdir.string(), options.precision, options.device);
  const at::Device device = parse_placement(options.device, options.precision).device;

  const auto video = io::SafetensorsFile::open((mdir / "reference_inputs.safetensors").string());
  const at::Tensor pixels = video->tensor("video.pixel_values").to(device);  // [T, 3, S, S]
  const at::Tensor frames = video->tensor("video.frames_uint8_thwc");  // [T, H, W, 3]
  const int64_t height = frames.size(1), width = frames.size(2);
  const auto inputs = io::SafetensorsFile::open((dir / "reference_inputs.safetensors").string());
  const auto outputs = io::SafetensorsFile::open((dir / "reference_outputs.safetensors").string());
  const auto intermediates = io::SafetensorsFile::open((dir / "reference_intermediates.safetensors").string());

  // Prompts per (object id, frame), in model-input pixels as the session stored them.
  std::map<std::pair<int64_t, int64_t>, Prompt> prompts;
  const std::regex prompt_re(R"(obj(\d+)\.frame(\d+)\.point_coords_model)");
  for (const auto& t : inputs->tensors()) {
    std::smatch m;
    if (!std::regex_match(t.name, m, prompt_re)) continue;
    const std::string labels = "obj" + m[1].str() + ".frame" + m[2].str() + ".point_labels_model";
    SAM3RT_CHECK(inputs->find(labels) != nullptr, kCorruption, dir_string, ": ", t.name, " without ", labels);
    prompts[{std::stoll(m[1].str()), std::stoll(m[2].str())}] = {inputs->tensor(t).to(device),
                                                                  inputs->tensor(labels).to(device)};
  }

  // Stages and frames per case from the output names "<case>.<stage>.frame<f>.<key>".
  std::map<std::string, std::map<std::string, std::set<int64_t>>> stages;
  const std::regex output_re(R"(([^.]+)\.([^.]+)\.frame(\d+)\.[^.]+)");
  for (const auto& t : outputs->tensors()) {
    std::smatch m;
    if (std::regex_match(t.name, m, output_re)) stages[m[1].str()][m[2].str()].insert(std::stoll(m[3].str()));
  }

  auto compare = [&](const std::string& name, const at::Tensor& ours, const at::Tensor& ref, double tol) {
    on_result(compare_tensors(name, ours.reshape(ours.numel() == ref.numel() ? ref.sizes() : ours.sizes()), ref, tol));
  };
  auto check_frame = [&](const std::string& prefix, const models::VideoFrameResult& r,
                         const models::VideoTrackerTrace& t) {
    const at::Tensor ids = at::tensor(r.object_ids, at::TensorOptions().dtype(at::kLong));
    compare(prefix + "object_ids", ids, outputs->tensor(prefix + "object_ids"), 0.0);
    compare(prefix + "pred_masks", r.masks, outputs->tensor(prefix + "pred_masks"), options.tolerance);
    compare(prefix + "object_score_logits", r.object_score_logits, outputs->tensor(prefix + "object_score_logits"),
            options.tolerance);
    const std::string vr = prefix + "video_res_mask_logits";
    if (outputs->find(vr) != nullptr) {
      compare(vr, at::upsample_bilinear2d(r.masks, {height, width}, /*align_corners=*/false), outputs->tensor(vr),
              options.tolerance);
    }
    const NamedTensors ours = trace_names(t);
    for (const auto& ti : intermediates->tensors()) {
      if (ti.name.rfind(prefix, 0) != 0) continue;
      auto it = ours.find(ti.name.substr(prefix.size()));
      if (it == ours.end() || !it->second.defined()) {
        on_skip(ti.name + " (intermediate sam3rt does not produce on this frame)");
        continue;
      }
      compare(ti.name, it->second, intermediates->tensor(ti), options.tolerance);
    }
  };

  // One session for all cases, as the reference ran them; it keeps every frame's memory
  // as transformers does (a later case corrects frames tracked long before).
  models::VideoTrackerOptions vopts;
  vopts.history_radius = -1;
  // A memory mask is binarised at logit 0; where a pixel's logit is within rounding of 0,
  // ours and the reference's can fall on either side, and the memory of every later frame
  // differs. The reference's binarisation (from its output logits of the frame) is taken
  // instead, and every flip is reported as a note, not hidden in a wider tolerance.
  std::string prefix_now;  // "<case>.<stage>.frame<f>." of the track() call running
  vopts.reference_memory_mask_logits = [&](int64_t, int64_t object_id) -> at::Tensor {
    const std::string masks = prefix_now + "pred_masks", ids = prefix_now + "object_ids";
    if (prefix_now.empty() || outputs->find(masks) == nullptr || outputs->find(ids) == nullptr) return {};
    const at::Tensor object_ids = outputs->tensor(ids).to(at::kLong).reshape({-1});
    for (int64_t i = 0; i < object_ids.size(0); ++i) {
      if (object_ids[i].item<int64_t>() == object_id) return outputs->tensor(masks).select(0, i);
    }
    return {};
  };
  auto note_flips = [&](const std::string& prefix, const models::VideoTrackerTrace& t) {
    for (const auto& fl : t.memory_mask_flips) {
      if (fl.pixels == 0 || !options.on_note) continue;
      char largest[32];
      std::snprintf(largest, sizeof(largest), "%.1e", static_cast<double>(fl.largest_logit));
      options.on_note(prefix + "memory mask of object " + std::to_string(fl.object_id) + ": " +
                      std::to_string(fl.pixels) + " pixel(s) binarised otherwise than the reference (|logit| <= " +
                      largest + "); the reference's binarisation was used");
    }
  };
  models::VideoTracker tracker(*modules->tracker, *modules->frame_encoder, pixels.size(0), vopts);
  auto frame = [&](int64_t f) { return models::VideoFrame{f, pixels.select(0, f).unsqueeze(0), {}}; };
  auto add = [&](int64_t obj, int64_t f, Prompt& p) {
    tracker.add_points(obj, f, p.points.reshape({-1, 2}), p.labels.reshape({-1}), /*clear_old=*/true);
    p.used = true;
  };
  const std::regex add_re(R"(add_obj(\d+))");
  for (auto it = index["cases"].begin(); it != index["cases"].end(); ++it) {
    const std::string c = it.key();
    auto sit = stages.find(c);
    if (sit == stages.end()) {
      on_skip(c + " (no recorded frames)");
      continue;
    }
    // add_obj<k> stages by object, then propagate.
    std::vector<std::pair<int64_t, std::string>> adds;
    for (const auto& [stage, fs_] : sit->second) {
      std::smatch m;
      if (std::regex_match(stage, m, add_re)) {
        adds.emplace_back(std::stoll(m[1].str()), stage);
      } else if (stage != "propagate") {
        on_skip(c + "." + stage + " (unknown stage)");
      }
    }
    std::sort(adds.begin(), adds.end());
    models::VideoTrackerTrace trace;
    for (const auto& [obj, stage] : adds) {
      for (int64_t f : sit->second.at(stage)) {
        auto p = prompts.find({obj, f});
        SAM3RT_CHECK(p != prompts.end(), kCorruption, dir_string, ": stage ", c, ".", stage, " on frame ", f,
                     " has no prompt obj", obj, ".frame", f);
        add(obj, f, p->second);
        const std::string prefix = c + "." + stage + ".frame" + std::to_string(f) + ".";
        prefix_now = prefix;
        check_frame(prefix, tracker.track(frame(f), false, &trace), trace);
        note_flips(prefix, trace);
      }
    }
    auto prop = sit->second.find("propagate");
    if (prop == sit->second.end()) continue;
    // Prompts not used yet on the first propagated frame are the clicks this case adds
    // there before propagating (a correction when that frame was tracked already).
    const int64_t start = *prop->second.begin();
    for (auto& [key, p] : prompts) {
      if (!p.used && key.second == start) add(key.first, key.second, p);
    }
    for (int64_t f : prop->second) {
      const std::string prefix = c + ".propagate.frame" + std::to_string(f) + ".";
      prefix_now = prefix;
      check_frame(prefix, tracker.track(frame(f), false, &trace), trace);
      note_flips(prefix, trace);
    }
  }
  for (const auto& [key, p] : prompts) {
    if (!p.used) {
      on_skip("obj" + std::to_string(key.first) + ".frame" + std::to_string(key.second) + " prompt (no stage uses it)");
    }
  }
}

}  // namespace sam3rt::pipeline
