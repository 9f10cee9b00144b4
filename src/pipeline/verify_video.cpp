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

// One step of a reference session, as the generator ran it.
struct ReplayStep {
  enum Op { kNewSession, kPoints, kMask, kForward, kPropagate } op = kNewSession;
  std::string case_name, stage;
  int64_t object_id = 0, frame = 0;
  std::string points, labels, mask;  // input names
  bool clear_old = true, reverse = false;
  std::vector<int64_t> frames;  // kPropagate, in order
};

// The steps of every case: index.json's "case_steps" where the generator recorded them
// (gen_sam2_ref.py), else inferred from the output names "<case>.<stage>.frame<f>.*"
// (gen_sam3_ref.py: one session for all cases; add_obj<k> stages use obj<k>.frame<f>
// clicks, then "propagate" forward, with the clicks not used yet on its first frame).
std::vector<ReplayStep> replay_steps(const Json& index, const io::SafetensorsFile& inputs,
                                     const io::SafetensorsFile& outputs, const std::string& dir) {
  std::vector<ReplayStep> steps;
  const std::string where = dir + "/index.json";
  if (index.contains("case_steps")) {
    const Json& all = index["case_steps"];
    for (auto c = index["cases"].begin(); c != index["cases"].end(); ++c) {
      SAM3RT_CHECK(all.contains(c.key()) && all[c.key()].is_array(), kCorruption, where, ": case ", c.key(),
                   " has no case_steps");
      for (const Json& j : all[c.key()]) {
        ReplayStep st;
        st.case_name = c.key();
        const std::string op = j.value("op", std::string());
        if (op == "init_video_session") {
          st.op = ReplayStep::kNewSession;
        } else if (op == "continue_session") {
          continue;
        } else if (op == "add_inputs") {
          st.object_id = j.at("obj_id").get<int64_t>();
          st.frame = j.at("frame").get<int64_t>();
          st.clear_old = j.value("clear_old_inputs", true);
          if (j.value("prompt", std::string()) == "mask") {
            st.op = ReplayStep::kMask;
            st.mask = j.at("mask").get<std::string>();
          } else {  // points, or a box given as its two corner points (labels 2, 3)
            st.op = ReplayStep::kPoints;
            st.points = j.at("points").get<std::string>();
            st.labels = j.at("labels").get<std::string>();
          }
        } else if (op == "forward") {
          st.op = ReplayStep::kForward;
          st.frame = j.at("frame").get<int64_t>();
          st.stage = j.at("stage").get<std::string>();
        } else if (op == "propagate_in_video_iterator") {
          st.op = ReplayStep::kPropagate;
          st.stage = j.at("stage").get<std::string>();
          st.reverse = j.value("reverse", false);
          st.frames = j.at("frames_in_order").get<std::vector<int64_t>>();
        } else {
          SAM3RT_FAIL(kCorruption, where, ": case ", c.key(), ": unknown step '", op, "'");
        }
        steps.push_back(std::move(st));
      }
    }
    return steps;
  }

  std::map<std::string, std::map<std::string, std::set<int64_t>>> stages;  // case -> stage -> frames
  const std::regex output_re(R"(([^.]+)\.([^.]+)\.frame(\d+)\.[^.]+)");
  for (const auto& t : outputs.tensors()) {
    std::smatch m;
    if (std::regex_match(t.name, m, output_re)) stages[m[1].str()][m[2].str()].insert(std::stoll(m[3].str()));
  }
  std::set<std::pair<int64_t, int64_t>> unused;  // (object, frame) with clicks
  const std::regex prompt_re(R"(obj(\d+)\.frame(\d+)\.point_coords_model)");
  for (const auto& t : inputs.tensors()) {
    std::smatch m;
    if (std::regex_match(t.name, m, prompt_re)) unused.insert({std::stoll(m[1].str()), std::stoll(m[2].str())});
  }
  auto points = [&](const std::string& c, int64_t obj, int64_t f) {
    ReplayStep st;
    st.op = ReplayStep::kPoints;
    st.case_name = c;
    st.object_id = obj;
    st.frame = f;
    const std::string key = "obj" + std::to_string(obj) + ".frame" + std::to_string(f) + ".";
    st.points = key + "point_coords_model";
    st.labels = key + "point_labels_model";
    unused.erase({obj, f});
    return st;
  };
  const std::regex add_re(R"(add_obj(\d+))");
  bool first = true;
  for (auto c = index["cases"].begin(); c != index["cases"].end(); ++c) {
    auto sit = stages.find(c.key());
    if (sit == stages.end()) continue;
    if (first) steps.push_back(ReplayStep{ReplayStep::kNewSession, c.key()});
    first = false;
    std::vector<std::pair<int64_t, std::string>> adds;
    for (const auto& [stage, frames] : sit->second) {
      std::smatch m;
      if (std::regex_match(stage, m, add_re)) adds.emplace_back(std::stoll(m[1].str()), stage);
    }
    std::sort(adds.begin(), adds.end());
    for (const auto& [obj, stage] : adds) {
      for (int64_t f : sit->second.at(stage)) {
        steps.push_back(points(c.key(), obj, f));
        ReplayStep fw;
        fw.op = ReplayStep::kForward;
        fw.case_name = c.key();
        fw.stage = stage;
        fw.frame = f;
        steps.push_back(fw);
      }
    }
    auto prop = sit->second.find("propagate");
    if (prop == sit->second.end()) continue;
    const int64_t start = *prop->second.begin();
    for (const auto& key : std::set<std::pair<int64_t, int64_t>>(unused)) {
      if (key.second == start) steps.push_back(points(c.key(), key.first, key.second));
    }
    ReplayStep pr;
    pr.op = ReplayStep::kPropagate;
    pr.case_name = c.key();
    pr.stage = "propagate";
    pr.frames.assign(prop->second.begin(), prop->second.end());
    steps.push_back(pr);
  }
  return steps;
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

  const std::vector<ReplayStep> all_steps = replay_steps(index, *inputs, *outputs, dir_string);

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
  vopts.pointers_from_all_conditioning_frames = true;  // what the reference ran
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
  // The same for the bf16 rounding of the stored memory features (memory_encoder.0 of the
  // track() call running, where the fixture recorded it).
  vopts.reference_memory_features = [&](int64_t) -> at::Tensor {
    const std::string name = prefix_now + "memory_encoder.0";
    if (prefix_now.empty() || intermediates->find(name) == nullptr) return {};
    return intermediates->tensor(name);
  };
  auto note_flips = [&](const std::string& prefix, const models::VideoTrackerTrace& t) {
    if (t.memory_rounding_flips > 0 && options.on_note) {
      options.on_note(prefix + "memory features: " + std::to_string(t.memory_rounding_flips) +
                      " value(s) rounded to bf16 otherwise than the reference's (equal to within 1e-4 before "
                      "rounding); the reference's were stored");
    }
    for (const auto& fl : t.memory_mask_flips) {
      if (fl.pixels == 0 || !options.on_note) continue;
      char largest[32];
      std::snprintf(largest, sizeof(largest), "%.1e", static_cast<double>(fl.largest_logit));
      options.on_note(prefix + "memory mask of object " + std::to_string(fl.object_id) + ": " +
                      std::to_string(fl.pixels) + " pixel(s) binarised otherwise than the reference (|logit| <= " +
                      largest + "); the reference's binarisation was used");
    }
  };
  std::unique_ptr<models::VideoTracker> tracker;
  auto frame = [&](int64_t f) { return models::VideoFrame{f, pixels.select(0, f).unsqueeze(0), {}}; };
  std::set<std::string> used;  // prompt inputs given to the tracker
  auto input = [&](const std::string& name) {
    SAM3RT_CHECK(inputs->find(name) != nullptr, kCorruption, dir_string, ": the replay needs input ", name);
    used.insert(name);
    return inputs->tensor(name).to(device);
  };
  auto run = [&](const std::string& prefix, int64_t f, bool reverse) {
    prefix_now = prefix;
    models::VideoTrackerTrace trace;
    check_frame(prefix, tracker->track(frame(f), reverse, &trace), trace);
    note_flips(prefix, trace);
  };
  for (const ReplayStep& st : all_steps) {
    if (st.op == ReplayStep::kNewSession) {
      tracker = std::make_unique<models::VideoTracker>(*modules->tracker, *modules->frame_encoder, pixels.size(0),
                                                       vopts);
      continue;
    }
    SAM3RT_CHECK(tracker != nullptr, kCorruption, dir_string, ": case ", st.case_name, " continues no session");
    switch (st.op) {
      case ReplayStep::kPoints:
        tracker->add_points(st.object_id, st.frame, input(st.points).reshape({-1, 2}),
                            input(st.labels).reshape({-1}), st.clear_old);
        break;
      case ReplayStep::kMask: {
        const at::Tensor m = input(st.mask);  // [1, 1, S, S] (or video-sized), 0/1
        tracker->add_mask(st.object_id, st.frame, m.reshape({m.size(-2), m.size(-1)}));
        break;
      }
      case ReplayStep::kForward:
        run(st.case_name + "." + st.stage + ".frame" + std::to_string(st.frame) + ".", st.frame, false);
        break;
      case ReplayStep::kPropagate:
        for (int64_t f : st.frames) {
          run(st.case_name + "." + st.stage + ".frame" + std::to_string(f) + ".", f, st.reverse);
        }
        break;
      case ReplayStep::kNewSession:
        break;
    }
  }
  for (const auto& t : inputs->tensors()) {
    const bool prompt = t.name.find("point_coords_model") != std::string::npos ||
                        t.name.find("mask_model") != std::string::npos;
    if (prompt && !used.count(t.name)) on_skip(t.name + " (a prompt no step uses)");
  }
}

}  // namespace sam3rt::pipeline
