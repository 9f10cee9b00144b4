// sam3rt info's engine: a model folder's config and checkpoint, described and checked.
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "developer/developer.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/modules.h"
#include "pipeline/placement.h"
#include "sam3rt/error.h"

namespace sam3rt::developer {

namespace {

// printf into a std::string.
template <typename... Args>
void add(std::string& out, const char* format, Args... args) {
  char line[1024];
  std::snprintf(line, sizeof(line), format, args...);
  out += line;
}

void describe_detector(std::string& out, const DetectorConfig& d) {
  const VitConfig& v = d.vision.backbone;
  add(out, "  vision: ViT %lld layers, width %lld, %lld heads, MLP %lld, patch %lld, input %lldx%lld (grid %lld), "
           "window %lld, global blocks [",
      (long long)v.num_hidden_layers, (long long)v.hidden_size, (long long)v.num_attention_heads,
      (long long)v.intermediate_size, (long long)v.patch_size, (long long)v.image_size, (long long)v.image_size,
      (long long)v.grid(), (long long)v.window_size);
  for (size_t i = 0; i < v.global_attn_indexes.size(); ++i) {
    add(out, "%s%lld", i ? ", " : "", (long long)v.global_attn_indexes[i]);
  }
  add(out, "], FPN width %lld\n", (long long)d.vision.fpn_hidden_size);
  add(out, "  text: CLIP %lld layers, width %lld, %lld heads, vocabulary %lld, context %lld\n",
      (long long)d.text.num_hidden_layers, (long long)d.text.hidden_size, (long long)d.text.num_attention_heads,
      (long long)d.text.vocab_size, (long long)d.text.max_position_embeddings);
  add(out, "  detector: width %lld; geometry encoder %lld layers; DETR encoder %lld layers; DETR decoder %lld layers, "
           "%lld queries\n",
      (long long)d.detr_encoder.hidden_size, (long long)d.geometry_encoder.num_layers,
      (long long)d.detr_encoder.num_layers, (long long)d.detr_decoder.num_layers, (long long)d.detr_decoder.num_queries);
}

// "[a, b, c]"
std::string list(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

void describe_hiera(std::string& out, const HieraVisionConfig& h) {
  const HieraConfig& b = h.backbone;
  add(out, "  vision: Hiera %s blocks per stage, widths %s, heads %s, windows %s, global blocks %s, input %lldx%lld; "
           "FPN width %lld, top-down levels %s\n",
      list(b.blocks_per_stage).c_str(), list(b.embed_dim_per_stage).c_str(),
      list(b.num_attention_heads_per_stage).c_str(), list(b.window_size_per_stage).c_str(),
      list(b.global_attention_blocks).c_str(), (long long)b.image_size[0], (long long)b.image_size[1],
      (long long)h.fpn_hidden_size, list(h.fpn_top_down_levels).c_str());
}

void describe_tracker(std::string& out, const TrackerConfig& t) {
  if (t.hiera) describe_hiera(out, *t.hiera);
  add(out, "  tracker: width %lld, mask decoder %lld two-way blocks, %lld multimask outputs\n",
      (long long)t.mask_decoder.hidden_size, (long long)t.mask_decoder.num_hidden_layers,
      (long long)t.mask_decoder.num_multimask_outputs);
  if (t.video) {
    const auto& v = *t.video;
    add(out, "  memory: %lld memory frames, %lld object pointers, %lld conditioning frames, memory attention %lld "
             "layers, memory width %lld\n",
        (long long)v.num_maskmem, (long long)v.max_object_pointers_in_encoder, (long long)v.max_cond_frame_num,
        (long long)v.memory_attention_num_layers, (long long)v.memory_encoder_output_channels);
  }
}

}  // namespace

ModelReport describe_model(const std::string& dir) {
  namespace fs = std::filesystem;
  SAM3RT_CHECK(fs::is_directory(dir), kNotFound, dir, ": not a directory");
  ModelReport r;
  r.weights_path = (fs::path(dir) / "model.safetensors").string();
  // Everything is read and checked before the description is built, so that a bad file
  // is one error and no half report.
  const ModelConfig config = load_model_config((fs::path(dir) / "config.json").string());
  const auto file = io::SafetensorsFile::open(r.weights_path);
  add(r.text, "model: %s (%s)\n", dir.c_str(), model_type_name(config.type));
  if (config.detector) describe_detector(r.text, *config.detector);
  if (config.tracker) describe_tracker(r.text, *config.tracker);

  std::map<std::string, std::pair<int64_t, int64_t>> by_dtype;  // dtype -> (tensors, elements)
  int64_t params = 0;
  for (const auto& t : file->tensors()) {
    auto& e = by_dtype[io::dtype_name(t.dtype)];
    e.first += 1;
    e.second += t.numel();
    params += t.numel();
  }
  add(r.text, "checkpoint: %zu tensors, %lld parameters (%.1f M)\n", file->tensors().size(), (long long)params,
      params / 1e6);
  for (const auto& [name, e] : by_dtype) {
    add(r.text, "  %s: %lld tensors, %lld elements\n", name.c_str(), (long long)e.first, (long long)e.second);
  }
  io::WeightStore store(file);
  models::bind_modules(config, store);
  r.problems = store.problems();
  if (r.problems.empty()) {
    add(r.text, "keys: all %zu tensors match the config\n", store.expected().size());
  } else {
    add(r.text, "keys: %zu problems\n", r.problems.size());
    for (const auto& p : r.problems) r.text += "  " + p + "\n";
  }
  // What this machine would run it with (the bf16 path is measured here, ~50 ms).
  io::Placement cpu32, cpu16;
  cpu32.kernels = cpu16.kernels = pipeline::cpu_kernels("auto", true);
  cpu16.matmul_dtype = at::kBFloat16;
  pipeline::choose_bf16_kernels(cpu16);
  add(r.text, "compute (this CPU): %s\n", pipeline::describe_kernels(cpu32).c_str());
  add(r.text, "compute (this CPU): %s\n", pipeline::describe_kernels(cpu16).c_str());
  return r;
}

}  // namespace sam3rt::developer
