#include "pipeline/verify_text_video.h"

#include <ATen/ops/tensor.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "io/config.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/modules.h"
#include "pipeline/placement.h"
#include "sam3rt/error.h"

namespace sam3rt::pipeline {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;  // keeps the cases in the file's order


std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

at::Tensor ids_tensor(const std::vector<int64_t>& v) { return at::tensor(v, at::TensorOptions().dtype(at::kLong)); }

template <typename Map>
std::pair<at::Tensor, at::Tensor> split(const Map& m) {
  std::vector<int64_t> k;
  std::vector<double> v;
  for (const auto& [key, value] : m) {
    k.push_back(key);
    v.push_back(value);
  }
  return {ids_tensor(k), at::tensor(v, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat)};
}

}  // namespace

std::map<std::string, at::Tensor> text_video_trace_names(const models::TextVideoTrace& t) {
  std::map<std::string, at::Tensor> out;
  if (!t.detections.empty()) {
    const models::TextVideoTrace::Detection& d = t.detections.front();
    out["detector_model.pred_logits"] = d.output.pred_logits;
    out["detector_model.pred_boxes"] = d.output.pred_boxes;
    out["detector_model.pred_masks"] = d.output.pred_masks;
    out["detector_model.presence_logits"] = d.output.presence_logits;
    out["detector_model.semantic_seg"] = d.output.semantic_seg;
    out["detector_model.decoder_reference_boxes"] = d.output.decoder_reference_boxes;
    for (const char* k : {"geometry_encoder.last_hidden_state", "geometry_encoder.attention_mask"}) {
      auto it = d.trace.find(k);
      if (it != d.trace.end()) out[std::string("detector_model.") + k] = it->second;
    }
  }
  std::map<std::string, int> calls;
  auto name = [&](const std::string& module) {
    const int k = calls[module]++;
    return "tracker_model." + module + (k ? "#call" + std::to_string(k) : "");
  };
  for (const models::VideoTrackerTrace& c : t.tracker) {
    for (const models::VideoTrackerTrace::ObjectStep& s : c.objects) {
      if (s.memory_attention.defined()) out[name("memory_attention")] = s.memory_attention;
      const std::string md = name("mask_decoder");
      out[md + ".0"] = s.decoder.masks;
      out[md + ".1"] = s.decoder.iou_scores;
      out[md + ".2"] = s.decoder.sam_tokens;
      out[md + ".3"] = s.decoder.object_score_logits;
    }
    if (c.memory_features.defined()) {
      const std::string me = name("memory_encoder");
      out[me + ".0"] = c.memory_features;
      out[me + ".1"] = c.memory_pos;
    }
  }
  return out;
}

void verify_text_video(const std::string& dir_string, const VerifyOptions& options,
                       const std::function<void(const TensorComparison&)>& on_result,
                       const std::function<void(const std::string&)>& on_skip) {
  const fs::path dir(dir_string);
  const Json index = read_fixture_index(dir_string, {"sam3_video"});
  for (const char* f :
       {"config.json", "model.safetensors", "reference_inputs.safetensors", "reference_outputs.safetensors"}) {
    SAM3RT_CHECK(fs::exists(dir / f), kNotFound, (dir / f).string(), ": missing");
  }
  const auto modules = bind_fixture_model(dir.string(), options.precision, options.device);
  const at::Device device = parse_placement(options.device, options.precision).device;

  const auto inputs = io::SafetensorsFile::open((dir / "reference_inputs.safetensors").string());
  const auto outputs = io::SafetensorsFile::open((dir / "reference_outputs.safetensors").string());
  std::shared_ptr<const io::SafetensorsFile> intermediates;
  if (fs::exists(dir / "reference_intermediates.safetensors")) {
    intermediates = io::SafetensorsFile::open((dir / "reference_intermediates.safetensors").string());
  }
  for (const char* k : {"video.pixel_values", "video.frames_uint8_thwc", "prompt.input_ids", "prompt.attention_mask"}) {
    SAM3RT_CHECK(inputs->find(k) != nullptr, kCorruption, dir_string, ": reference_inputs has no ", k);
  }
  const at::Tensor pixels = inputs->tensor("video.pixel_values").to(device);  // [T, 3, S, S]
  const at::Tensor frames = inputs->tensor("video.frames_uint8_thwc");  // [T, H, W, 3]
  SAM3RT_CHECK(pixels.dim() == 4 && frames.dim() == 4 && pixels.size(0) == frames.size(0), kCorruption, dir_string,
               ": video.pixel_values and video.frames_uint8_thwc disagree");
  const at::Tensor input_ids = inputs->tensor("prompt.input_ids").to(device);
  const at::Tensor attention_mask = inputs->tensor("prompt.attention_mask").to(device);
  std::string text = "prompt";
  if (index.contains("prompt") && index["prompt"].is_object() && index["prompt"].contains("text") &&
      index["prompt"]["text"].is_string()) {
    text = index["prompt"]["text"].get<std::string>();
  }

  auto compare = [&](const std::string& name, const at::Tensor& ours, const at::Tensor& ref, double tol) {
    on_result(compare_tensors(name, ours.numel() == ref.numel() ? ours.reshape(ref.sizes()) : ours, ref, tol));
  };
  auto compare_output = [&](const std::string& name, const at::Tensor& ours, double tol, std::set<std::string>& seen) {
    if (outputs->find(name) == nullptr) {
      on_skip(name + " (not in the reference)");
      return;
    }
    seen.insert(name);
    compare(name, ours, outputs->tensor(name), tol);
  };

  for (auto it = index["cases"].begin(); it != index["cases"].end(); ++it) {
    const std::string c = it.key();
    const std::string description = it.value().is_string() ? it.value().get<std::string>() : std::string();
    if (outputs->find(c + ".yield_order") == nullptr) {
      on_skip(c + " (no recorded frames)");
      continue;
    }
    models::TextVideoOptions vopts = models::TextVideoOptions::transformers();
    const std::string what = lower(c + " " + description);
    if (what.find("padbox") != std::string::npos || what.find("padding box") != std::string::npos) {
      vopts.query = models::DetectorQuery::kTextAndPaddingBox;
    }
    models::TextVideoSession session(*modules, pixels.size(0), frames.size(1), frames.size(2), vopts);
    session.add_prompt(text, input_ids, attention_mask);

    std::set<std::string> seen;
    std::vector<int64_t> order;
    auto on_trace = [&](int64_t f, const models::TextVideoTrace& t) {
      if (!intermediates) return;
      const std::string prefix = c + ".frame" + std::to_string(f) + ".";
      const auto ours = text_video_trace_names(t);
      for (const auto& ti : intermediates->tensors()) {
        if (ti.name.rfind(prefix, 0) != 0) continue;
        seen.insert(ti.name);
        auto o = ours.find(ti.name.substr(prefix.size()));
        if (o == ours.end() || !o->second.defined()) {
          on_skip(ti.name + " (intermediate sam3rt does not produce on this frame)");
          continue;
        }
        compare(ti.name, o->second, intermediates->tensor(ti), options.tolerance);
      }
    };
    auto on_frame = [&](const models::TextVideoFrameResult& r, const models::TextVideoObjects& post) {
      order.push_back(r.frame);
      const std::string p = c + ".frame" + std::to_string(r.frame) + ".";
      const double tol = options.tolerance;
      compare_output(p + "object_ids", ids_tensor(r.object_ids), 0.0, seen);
      compare_output(p + "mask_obj_ids", ids_tensor(r.mask_object_ids), 0.0, seen);
      compare_output(p + "masks_low_res", r.masks, tol, seen);
      const auto [score_ids, scores] = split(r.scores);
      compare_output(p + "score_obj_ids", score_ids, 0.0, seen);
      compare_output(p + "scores", scores, tol, seen);
      const auto [tracker_ids, tracker_scores] = split(r.tracker_scores);
      compare_output(p + "tracker_score_obj_ids", tracker_ids, 0.0, seen);
      compare_output(p + "tracker_scores", tracker_scores, tol, seen);
      compare_output(p + "removed_obj_ids",
                     ids_tensor(std::vector<int64_t>(r.removed_object_ids.begin(), r.removed_object_ids.end())), 0.0,
                     seen);
      compare_output(p + "suppressed_obj_ids",
                     ids_tensor(std::vector<int64_t>(r.suppressed_object_ids.begin(), r.suppressed_object_ids.end())),
                     0.0, seen);
      compare_output(p + "post.object_ids", post.object_ids, 0.0, seen);
      compare_output(p + "post.scores", post.scores, tol, seen);
      compare_output(p + "post.boxes", post.boxes, tol, seen);
      compare_output(p + "post.masks", post.masks, tol, seen);
    };
    session.propagate([&](int64_t i) { return pixels.select(0, i).unsqueeze(0); }, on_frame, 0, -1, false, on_trace);
    compare_output(c + ".yield_order", ids_tensor(order), 0.0, seen);
    for (const auto& t : outputs->tensors()) {
      if (t.name.rfind(c + ".", 0) == 0 && !seen.count(t.name)) on_skip(t.name + " (frame not yielded by sam3rt)");
    }
    if (intermediates) {
      for (const auto& t : intermediates->tensors()) {
        if (t.name.rfind(c + ".", 0) == 0 && !seen.count(t.name)) on_skip(t.name + " (frame not processed by sam3rt)");
      }
    }
  }
}

}  // namespace sam3rt::pipeline
