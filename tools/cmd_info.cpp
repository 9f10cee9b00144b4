// sam3rt info MODEL_DIR: what a model folder holds and whether it matches its config.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <map>

#include "commands.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/modules.h"
#include "sam3rt/error.h"

namespace sam3rt::cli {

namespace {

void print_detector(const DetectorConfig& d) {
  const VitConfig& v = d.vision.backbone;
  std::printf("  vision: ViT %lld layers, width %lld, %lld heads, MLP %lld, patch %lld, input %lldx%lld (grid %lld), "
              "window %lld, global blocks [",
              (long long)v.num_hidden_layers, (long long)v.hidden_size, (long long)v.num_attention_heads,
              (long long)v.intermediate_size, (long long)v.patch_size, (long long)v.image_size, (long long)v.image_size,
              (long long)v.grid(), (long long)v.window_size);
  for (size_t i = 0; i < v.global_attn_indexes.size(); ++i) {
    std::printf("%s%lld", i ? ", " : "", (long long)v.global_attn_indexes[i]);
  }
  std::printf("], FPN width %lld\n", (long long)d.vision.fpn_hidden_size);
  std::printf("  text: CLIP %lld layers, width %lld, %lld heads, vocabulary %lld, context %lld\n",
              (long long)d.text.num_hidden_layers, (long long)d.text.hidden_size, (long long)d.text.num_attention_heads,
              (long long)d.text.vocab_size, (long long)d.text.max_position_embeddings);
  std::printf("  detector: width %lld; geometry encoder %lld layers; DETR encoder %lld layers; DETR decoder %lld layers, "
              "%lld queries\n",
              (long long)d.detr_encoder.hidden_size, (long long)d.geometry_encoder.num_layers,
              (long long)d.detr_encoder.num_layers, (long long)d.detr_decoder.num_layers,
              (long long)d.detr_decoder.num_queries);
}

void print_tracker(const TrackerConfig& t) {
  std::printf("  tracker: width %lld, mask decoder %lld two-way blocks, %lld multimask outputs\n",
              (long long)t.mask_decoder.hidden_size, (long long)t.mask_decoder.num_hidden_layers,
              (long long)t.mask_decoder.num_multimask_outputs);
  if (t.video) {
    const auto& v = *t.video;
    std::printf("  memory: %lld memory frames, %lld object pointers, %lld conditioning frames, memory attention %lld "
                "layers, memory width %lld\n",
                (long long)v.num_maskmem, (long long)v.max_object_pointers_in_encoder, (long long)v.max_cond_frame_num,
                (long long)v.memory_attention_num_layers, (long long)v.memory_encoder_output_channels);
  }
}

}  // namespace

void add_info_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("info", "Describe a model folder (config.json + model.safetensors)");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("MODEL_DIR", *dir, "folder with config.json and model.safetensors")->required();
  cmd->callback([&exit_code, dir] {
    namespace fs = std::filesystem;
    SAM3RT_CHECK(fs::is_directory(*dir), kNotFound, *dir, ": not a directory");
    const std::string config_path = (fs::path(*dir) / "config.json").string();
    const std::string weights_path = (fs::path(*dir) / "model.safetensors").string();
    // Read and check everything first, so a bad file gives one error line and no
    // half-printed report.
    const ModelConfig config = load_model_config(config_path);
    const auto file = io::SafetensorsFile::open(weights_path);
    std::printf("model: %s (%s)\n", dir->c_str(), model_type_name(config.type));
    if (config.detector) print_detector(*config.detector);
    if (config.tracker) print_tracker(*config.tracker);

    std::map<std::string, std::pair<int64_t, int64_t>> by_dtype;  // dtype -> (tensors, elements)
    int64_t params = 0;
    for (const auto& t : file->tensors()) {
      auto& e = by_dtype[io::dtype_name(t.dtype)];
      e.first += 1;
      e.second += t.numel();
      params += t.numel();
    }
    std::printf("checkpoint: %zu tensors, %lld parameters (%.1f M)\n", file->tensors().size(), (long long)params,
                params / 1e6);
    for (const auto& [name, e] : by_dtype) {
      std::printf("  %s: %lld tensors, %lld elements\n", name.c_str(), (long long)e.first, (long long)e.second);
    }
    io::WeightStore store(file);
    models::bind_modules(config, store);
    const auto problems = store.problems();
    if (problems.empty()) {
      std::printf("keys: all %zu tensors match the config\n", store.expected().size());
    } else {
      std::printf("keys: %zu problems\n", problems.size());
      for (const auto& p : problems) std::printf("  %s\n", p.c_str());
      std::fflush(stdout);
      std::fprintf(stderr, "sam3rt: error: %s: checkpoint does not match the config (%zu key problems)\n",
                   weights_path.c_str(), problems.size());
      exit_code = 1;
    }
  });
}

}  // namespace sam3rt::cli
