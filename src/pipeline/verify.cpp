#include "pipeline/edge.h"
#include "pipeline/verify.h"

#include <ATen/ops/from_blob.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/tensor.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/config.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/modules.h"
#include "models/sam3/detector.h"
#include "models/tracker/tracker.h"
#include "nn/compat.h"
#include "nn/position_encoding.h"
#include "pipeline/preprocess.h"
#include "pipeline/placement.h"
#include "pipeline/verify_text_video.h"
#include "pipeline/verify_video.h"
#include "sam3rt/error.h"
#include "text/clip_tokenizer.h"

namespace sam3rt::pipeline {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

Json read_json_file(const std::string& path) {
  std::ifstream in(path);
  SAM3RT_CHECK(in.good(), kNotFound, path, ": cannot open");
  try {
    return Json::parse(in);
  } catch (const Json::exception& e) {
    SAM3RT_FAIL(kCorruption, path, ": not valid JSON: ", e.what());
  }
}

Json read_fixture_index(const std::string& dir, const std::vector<std::string>& models) {
  const std::string path = (fs::path(dir) / "index.json").string();
  Json index = read_json_file(path);
  const std::string model = index.value("model", std::string());
  SAM3RT_CHECK(std::find(models.begin(), models.end(), model) != models.end(), kCorruption, dir, ": not a ",
               models.front(), " fixture (index.json names '", model, "')");
  SAM3RT_CHECK(index.contains("cases") && index["cases"].is_object(), kCorruption, path, ": no 'cases' object");
  return index;
}

TensorComparison compare_tensors(const std::string& name, const at::Tensor& ours, const at::Tensor& ref,
                                 double tolerance) {
  TensorComparison c;
  c.name = name;
  c.tolerance = tolerance;
  if (ours.sizes() != ref.sizes()) {
    c.shape_ok = false;
    c.rel_l2 = std::numeric_limits<double>::infinity();
    c.max_abs = std::numeric_limits<double>::infinity();
    return c;
  }
  at::Tensor a = ours.detach().cpu().to(at::kDouble);
  at::Tensor b = ref.detach().cpu().to(at::kDouble);
  c.has_nan = !at::isfinite(a).all().item<bool>();
  if (a.numel() == 0) return c;
  at::Tensor diff = a.sub(b);
  c.max_abs = diff.abs().max().item<double>();
  const double dn = diff.norm().item<double>();
  const double rn = b.norm().item<double>();
  c.rel_l2 = rn > 0 ? dn / rn : dn;
  if (c.has_nan) c.rel_l2 = std::numeric_limits<double>::infinity();
  return c;
}

namespace {

constexpr double kOneGreyLevel = 2.0 / 255.0 + 1e-6;


class Recorder {
 public:
  Recorder(VerifyReport& report, const VerifyOptions& options) : report_(report), options_(options) {}
  void compare(const std::string& name, const at::Tensor& ours, const at::Tensor& ref, double tolerance,
               double max_abs_tolerance = -1.0) {
    report_.results.push_back(compare_tensors(name, ours, ref, tolerance));
    report_.results.back().max_abs_tolerance = max_abs_tolerance;
    report_.results.back().abs_floor = options_.abs_floor;
    if (options_.on_result) options_.on_result(report_.results.back());
  }
  void skip(const std::string& what) { report_.skipped.push_back(what); }
  // A comparison made elsewhere (the video verifiers).
  void add(const TensorComparison& c) {
    report_.results.push_back(c);
    report_.results.back().abs_floor = options_.abs_floor;
    if (options_.on_result) options_.on_result(report_.results.back());
  }

 private:
  VerifyReport& report_;
  const VerifyOptions& options_;
};

at::Tensor to_int64_tensor(const Json& list, const fs::path& file) {
  std::vector<int64_t> v;
  for (const auto& x : list) {
    SAM3RT_CHECK(x.is_number_integer(), kCorruption, file.string(), ": expected integer ids");
    v.push_back(x.get<int64_t>());
  }
  return at::tensor(v, at::TensorOptions().dtype(at::kLong));
}

void verify_tokenizer(const fs::path& file, const VerifyOptions& options, Recorder& rec) {
  const Json doc = read_json_file(file.string());
  SAM3RT_CHECK(doc.contains("cases") && doc["cases"].is_array(), kCorruption, file.string(), ": no 'cases' list");
  SAM3RT_CHECK(!options.bpe_vocab_path.empty(), kNotFound,
               "tokenizer fixture needs the CLIP vocabulary (bpe_simple_vocab_16e6.txt.gz): pass --vocab");
  const auto tok = text::ClipTokenizer::from_bpe_gz(options.bpe_vocab_path);
  const int context = doc.value("context_length", 32);
  int index = 0;
  for (const auto& c : doc["cases"]) {
    const std::string text = c.at("text").get<std::string>();
    const auto enc = tok.encode(text, context);
    const std::string name = "case" + std::to_string(index++);
    rec.compare(name + ".input_ids", at::tensor(enc.ids, at::TensorOptions().dtype(at::kLong)),
                to_int64_tensor(c.at("input_ids"), file), 0.0);
    rec.compare(name + ".attention_mask", at::tensor(enc.attention_mask, at::TensorOptions().dtype(at::kLong)),
                to_int64_tensor(c.at("attention_mask"), file), 0.0);
  }
}

// Rebuilds every "<case>.pixel_values" input from the raw uint8 images the fixture saved.
void verify_preprocessing(const fs::path& dir, const Json& index, const io::SafetensorsFile& inputs,
                          const VerifyOptions& options, Recorder& rec) {
  // Which raw image each case used is recorded in the notes; the fixtures store images
  // as image<i>_uint8_hwc and batch them in order. Batch size picks the images.
  std::vector<at::Tensor> images;
  for (int i = 0;; ++i) {
    const io::TensorInfo* info = inputs.find("image" + std::to_string(i) + "_uint8_hwc");
    if (info == nullptr) break;
    images.push_back(inputs.tensor(*info));
  }
  if (images.empty()) {
    rec.skip("preprocessing: the fixture stores no raw images");
    return;
  }
  // The model family's normalisation (SAM 3: 0.5 / 0.5; SAM 2: ImageNet's).
  std::array<double, 3> mean = kSam3ImageMean, stddev = kSam3ImageStd;
  if (fs::exists(dir / "config.json")) {
    const ModelConfig config = load_model_config((dir / "config.json").string());
    mean = config.image_mean;
    stddev = config.image_std;
  }
  for (const auto& t : inputs.tensors()) {
    const std::string suffix = ".pixel_values";
    if (t.name.size() <= suffix.size() || t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    at::Tensor ref = inputs.tensor(t);
    if (ref.dim() != 4) continue;  // video frames are checked by the video pipeline
    const int64_t batch = ref.size(0);
    if (batch > static_cast<int64_t>(images.size())) {
      rec.skip(t.name + ": batch larger than the stored raw images");
      continue;
    }
    std::vector<at::Tensor> batch_images(images.begin(), images.begin() + batch);
    at::Tensor ours = preprocess_batch(batch_images, ref.size(2), mean, stddev);
    // Preprocessing rounds to uint8 like the reference, so the bound is one grey level
    // per element: 1/255 before normalisation, 2/255 after (std 0.5).
    rec.compare(t.name, ours, ref, options.tolerance, kOneGreyLevel);
  }
}

// The reference files of one model folder, with index.json's input aliases resolved.
struct FixtureFiles {
  std::shared_ptr<const io::SafetensorsFile> inputs, outputs, intermediates;
  std::map<std::string, std::string> aliases;

  at::Device device;  // where input() puts the tensors: the model's device

  FixtureFiles(const fs::path& dir, const Json& index, at::Device device) : device(device) {
    inputs = io::SafetensorsFile::open((dir / "reference_inputs.safetensors").string());
    outputs = io::SafetensorsFile::open((dir / "reference_outputs.safetensors").string());
    intermediates = io::SafetensorsFile::open((dir / "reference_intermediates.safetensors").string());
    if (index.contains("input_aliases")) {
      for (auto it = index["input_aliases"].begin(); it != index["input_aliases"].end(); ++it) {
        aliases[it.key()] = it.value().get<std::string>();
      }
    }
  }
  bool has_input(const std::string& name) const {
    return aliases.count(name) || inputs->find(name) != nullptr;
  }
  at::Tensor input(const std::string& name) const {
    auto it = aliases.find(name);
    return inputs->tensor(it == aliases.end() ? name : it->second).to(device);
  }
};


std::vector<std::string> case_names(const Json& index, const fs::path& dir) {
  SAM3RT_CHECK(index.contains("cases") && index["cases"].is_object(), kCorruption, (dir / "index.json").string(),
               ": no 'cases' object");
  std::vector<std::string> names;
  for (auto it = index["cases"].begin(); it != index["cases"].end(); ++it) names.push_back(it.key());
  return names;
}

// Compares every reference tensor "<case>.<name>" of `file` with trace[name], in the
// file's order; names sam3rt does not produce are reported as skipped.
void compare_with_trace(const std::string& c, const io::SafetensorsFile& file, const models::Trace& trace,
                        const VerifyOptions& options, Recorder& rec, const char* kind) {
  const std::string prefix = c + ".";
  for (const auto& t : file.tensors()) {
    if (t.name.rfind(prefix, 0) != 0) continue;
    const std::string name = t.name.substr(prefix.size());
    auto it = trace.find(name);
    if (it == trace.end()) {
      rec.skip(t.name + " (" + kind + " sam3rt does not produce)");
      continue;
    }
    rec.compare(t.name, it->second, file.tensor(t), options.tolerance);
  }
}

// Sam3Model cases: the detector end to end on the reference inputs. A case without
// input_boxes is transformers' text-only path (geometry encoder skipped), which is what
// the reference ran; sam3rt's default (Meta) path is checked by the padding-box cases.
void verify_image_model(const fs::path& dir, const Json& index, const VerifyOptions& options, Recorder& rec) {
  const auto modules = bind_fixture_model(dir.string(), options.precision, options.device);
  const FixtureFiles files(dir, index, parse_placement(options.device, options.precision).device);
  for (const std::string& c : case_names(index, dir)) {
    models::Trace trace;
    const auto image = models::encode_detector_image(*modules, files.input(c + ".pixel_values"), &trace);
    const at::Tensor mask = files.input(c + ".attention_mask");
    models::DetectorPrompt prompt;
    prompt.text = models::encode_text(*modules, files.input(c + ".input_ids"), mask, &trace);
    prompt.text_valid = mask.to(at::kBool);
    if (files.has_input(c + ".input_boxes")) {
      prompt.boxes = files.input(c + ".input_boxes");
      prompt.box_labels = files.input(c + ".input_boxes_labels");
    }
    prompt.geometry_without_boxes = false;
    const models::DetectorOutput out = models::detect(*modules, image, prompt, &trace);
    models::Trace outputs{{"pred_logits", out.pred_logits},         {"pred_boxes", out.pred_boxes},
                          {"presence_logits", out.presence_logits}, {"pred_masks", out.pred_masks},
                          {"semantic_seg", out.semantic_seg},       {"decoder_reference_boxes", out.decoder_reference_boxes}};
    compare_with_trace(c, *files.outputs, outputs, options, rec, "output");
    compare_with_trace(c, *files.intermediates, trace, options, rec, "intermediate");
  }
}

// Sam3TrackerModel cases: the single-image tracker (ViT -> tracker neck -> prompt encoder
// -> mask decoder, no memory) on the reference inputs, with transformers' handling of
// no_memory_embedding (what the reference ran; architecture §14 item 11). Whether a case
// asked for one mask or the multimask set is not among the stored inputs; the number of
// IoU scores in its reference output tells.
void verify_tracker_model(const fs::path& dir, const Json& index, const VerifyOptions& options, Recorder& rec) {
  const auto modules = bind_fixture_model(dir.string(), options.precision, options.device);
  const FixtureFiles files(dir, index, parse_placement(options.device, options.precision).device);
  const models::Modules& m = *modules;
  SAM3RT_CHECK(m.tracker.has_value() && m.frame_encoder != nullptr, kCorruption, (dir / "config.json").string(),
               ": the tracker fixture's model has no tracker");
  for (const std::string& c : case_names(index, dir)) {
    const at::Tensor pixels = files.input(c + ".pixel_values");
    const int64_t B = pixels.size(0);
    models::Trace trace;
    // The encoder's trace has every neck level, SAM 3's 0.5x one that the tracker drops included.
    models::TrackerImageOptions image_options;
    image_options.add_no_memory_embedding = false;
    const models::TrackerImageFeatures f =
        models::encode_tracker_image(*m.tracker, *m.frame_encoder, pixels, image_options, &trace);
    trace["shared_image_embedding"] = f.image_pe.squeeze(0).permute({1, 2, 0});  // [G, G, d]

    models::TrackerPrompts prompts;
    if (files.has_input(c + ".input_points")) prompts.points = files.input(c + ".input_points");
    if (files.has_input(c + ".input_labels")) prompts.labels = files.input(c + ".input_labels");
    if (files.has_input(c + ".input_boxes")) prompts.boxes = files.input(c + ".input_boxes");
    if (files.has_input(c + ".input_masks")) prompts.mask_input = files.input(c + ".input_masks");
    const io::TensorInfo* ref_iou = files.outputs->find(c + ".iou_scores");
    SAM3RT_CHECK(ref_iou != nullptr && !ref_iou->shape.empty(), kCorruption, (dir / "index.json").string(),
                 ": case ", c, " has no iou_scores output");
    const bool multimask = ref_iou->shape.back() > 1;

    models::TrackerPredictTrace pt;
    const models::TrackerPrediction p = models::predict_tracker(*m.tracker, f, prompts, multimask, &pt);
    const int64_t P = p.masks.size(1);
    trace["prompt_encoder.0"] = pt.prompts.sparse;
    trace["prompt_encoder.1"] = pt.prompts.dense;
    // The decoder's image tokens are [B * P, HW, d]; the reference keeps [B, P, HW, d].
    auto split = [&](const at::Tensor& t) { return t.view({B, P, t.size(1), t.size(2)}); };
    for (size_t i = 0; i < pt.decoder.layer_tokens.size(); ++i) {
      const std::string lp = "mask_decoder.transformer.layers." + std::to_string(i) + ".";
      trace[lp + "0"] = pt.decoder.layer_tokens[i];
      trace[lp + "1"] = split(pt.decoder.layer_image[i]);
      trace[lp + "2"] = split(pt.decoder.layer_image_attn[i]);
    }
    trace["mask_decoder.transformer.0"] = pt.decoder.tokens;
    trace["mask_decoder.transformer.1"] = split(pt.decoder.image);
    trace["mask_decoder.0"] = p.masks;
    trace["mask_decoder.1"] = p.iou_scores;
    trace["mask_decoder.2"] = p.sam_tokens;
    trace["mask_decoder.3"] = p.object_score_logits;

    models::Trace outputs{{"image_embeddings.0", f.feat_s0},
                          {"image_embeddings.1", f.feat_s1},
                          {"image_embeddings.2", f.image_embedding},
                          {"pred_masks", p.masks},
                          {"iou_scores", p.iou_scores},
                          {"object_score_logits", p.object_score_logits}};
    compare_with_trace(c, *files.outputs, outputs, options, rec, "output");
    compare_with_trace(c, *files.intermediates, trace, options, rec, "intermediate");
  }
}

}  // namespace

std::unique_ptr<models::Modules> bind_fixture_model(const std::string& folder, const std::string& precision,
                                                        const std::string& device) {
  const fs::path dir(folder);
  const ModelConfig config = load_model_config((dir / "config.json").string());
  const std::string weights = (dir / "model.safetensors").string();
  io::WeightStore store(io::SafetensorsFile::open(weights));
  io::Placement placement = parse_placement(device, precision);
  if (placement.device.is_cuda()) nn::compat::allow_tf32(false);
  if (placement.device.is_cpu()) {
    placement.kernels = cpu_kernels("auto", true);
    choose_bf16_kernels(placement);
  }
  store.set_placement(placement);
  auto modules = models::bind_modules(config, store);
  store.finish(weights);
  return modules;
}

}  // namespace sam3rt::pipeline

namespace sam3rt::developer {

using namespace pipeline;

size_t VerifyReport::passed() const {
  size_t n = 0;
  for (const auto& r : results) n += r.ok() ? 1 : 0;
  return n;
}

double VerifyReport::worst_rel_l2() const {
  double w = 0.0;
  for (const auto& r : results) w = std::max(w, r.rel_l2);
  return w;
}

VerifyReport verify_fixture(const std::string& dir_string, const VerifyOptions& options) {
  return pipeline::at_edge([&] {
    const fs::path dir(dir_string);
    SAM3RT_CHECK(fs::is_directory(dir), kNotFound, dir_string, ": not a directory");
    VerifyReport report;
    Recorder rec(report, options);

    if (fs::exists(dir / "clip_tokenizer_cases.json")) {
      verify_tokenizer(dir / "clip_tokenizer_cases.json", options, rec);
      return report;
    }
    SAM3RT_CHECK(fs::exists(dir / "index.json"), kNotFound, dir_string,
                 ": not a fixture folder (no index.json or clip_tokenizer_cases.json)");
    const Json index = read_json_file((dir / "index.json").string());
    if (fs::exists(dir / "reference_inputs.safetensors")) {
      const auto inputs = io::SafetensorsFile::open((dir / "reference_inputs.safetensors").string());
      verify_preprocessing(dir, index, *inputs, options, rec);
    }
    const std::string model = index.value("model", std::string());
    if (model == "sam3_image") {
      verify_image_model(dir, index, options, rec);
    } else if (model == "sam3_tracker" || model == "sam2_tracker") {
      verify_tracker_model(dir, index, options, rec);
    } else if (model == "sam3_tracker_video" || model == "sam2_tracker_video") {
      VerifyOptions noted = options;
      noted.on_note = [&](const std::string& n) {
        report.notes.push_back(n);
        if (options.on_note) options.on_note(n);
      };
      verify_tracker_video(dir_string, noted, [&](const TensorComparison& c) { rec.add(c); },
                           [&](const std::string& s) { rec.skip(s); });
    } else if (model == "sam3_video") {
      verify_text_video(dir_string, options, [&](const TensorComparison& c) { rec.add(c); },
                        [&](const std::string& s) { rec.skip(s); });
    } else {
      rec.skip(model + ": model cases are not run by this build yet");
    }
    return report;
  });
}

}  // namespace sam3rt::developer
