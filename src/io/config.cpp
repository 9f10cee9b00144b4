#include "io/config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sam3rt/error.h"

namespace sam3rt {

namespace {

using Json = nlohmann::json;

// Configs nest four objects deep; anything far deeper is not a config (and would make
// the recursive dump() in messages overflow the stack).
constexpr int kMaxJsonDepth = 64;

// The value of an integer field: an integer, or a float with an integral value (Python
// may write 1.0), inside the range of int64_t. nullopt for anything else.
std::optional<int64_t> integer_value(const Json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // [-2^63, 2^63): converting anything outside is undefined behaviour.
    if (!std::isfinite(d) || d != std::trunc(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
      return std::nullopt;
    }
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

// A JSON object with its path ("detector_config.vision_config") for messages. Absent
// objects read as empty, so every field falls back to its default.
class Node {
 public:
  Node(const Json* json, std::string path, const std::string* file)
      : json_(json), path_(std::move(path)), file_(file) {}

  Node child(const char* key) const {
    const Json* v = find(key);
    if (v == nullptr || v->is_null()) return Node(nullptr, join(key), file_);
    SAM3RT_CHECK(v->is_object(), kCorruption, *file_, ": field '", join(key), "' must be an object");
    return Node(v, join(key), file_);
  }
  bool has(const char* key) const {
    const Json* v = find(key);
    return v != nullptr && !v->is_null();
  }

  void read(const char* key, int64_t& out) const {
    if (const Json* v = present(key)) {
      const std::optional<int64_t> i = integer_value(*v);
      SAM3RT_CHECK(i.has_value(), kCorruption, *file_, ": field '", join(key), "' must be an integer, got ", v->dump());
      out = *i;
    }
  }
  void read(const char* key, double& out) const {
    if (const Json* v = present(key)) {
      SAM3RT_CHECK(v->is_number(), kCorruption, *file_, ": field '", join(key), "' must be a number, got ", v->dump());
      out = v->get<double>();
    }
  }
  void read(const char* key, bool& out) const {
    if (const Json* v = present(key)) {
      SAM3RT_CHECK(v->is_boolean(), kCorruption, *file_, ": field '", join(key), "' must be true or false, got ", v->dump());
      out = v->get<bool>();
    }
  }
  void read(const char* key, std::string& out) const {
    if (const Json* v = present(key)) {
      SAM3RT_CHECK(v->is_string(), kCorruption, *file_, ": field '", join(key), "' must be a string, got ", v->dump());
      out = v->get<std::string>();
    }
  }
  void read(const char* key, std::vector<int64_t>& out) const {
    if (const Json* v = present(key)) {
      SAM3RT_CHECK(v->is_array(), kCorruption, *file_, ": field '", join(key), "' must be a list of integers");
      out.clear();
      for (const auto& e : *v) {
        const std::optional<int64_t> i = integer_value(e);
        SAM3RT_CHECK(i.has_value(), kCorruption, *file_, ": field '", join(key),
                     "' must be a list of integers, got ", v->dump());
        out.push_back(*i);
      }
    }
  }
  void read(const char* key, std::vector<double>& out) const {
    if (const Json* v = present(key)) {
      SAM3RT_CHECK(v->is_array(), kCorruption, *file_, ": field '", join(key), "' must be a list of numbers");
      out.clear();
      for (const auto& e : *v) {
        SAM3RT_CHECK(e.is_number(), kCorruption, *file_, ": field '", join(key), "' must be a list of numbers, got ", v->dump());
        out.push_back(e.get<double>());
      }
    }
  }
  void read(const char* key, std::vector<std::vector<int64_t>>& out) const {
    if (const Json* v = present(key)) {
      SAM3RT_CHECK(v->is_array(), kCorruption, *file_, ": field '", join(key), "' must be a list of [h, w] pairs");
      out.clear();
      for (const auto& e : *v) {
        SAM3RT_CHECK(e.is_array() && e.size() == 2, kCorruption, *file_, ": field '", join(key),
                     "' must be a list of [h, w] pairs");
        std::vector<int64_t> pair;
        for (const auto& x : e) {
          const std::optional<int64_t> i = integer_value(x);
          SAM3RT_CHECK(i.has_value(), kCorruption, *file_, ": field '", join(key), "' must hold integers");
          pair.push_back(*i);
        }
        out.push_back(std::move(pair));
      }
    }
  }

  // Checks that run on parsed values.
  void positive(const char* key, int64_t v) const {
    SAM3RT_CHECK(v > 0, kCorruption, *file_, ": field '", join(key), "' must be positive, got ", v);
  }
  void divides(const char* heads_key, int64_t heads, const char* width_key, int64_t width) const {
    positive(width_key, width);
    positive(heads_key, heads);
    SAM3RT_CHECK(width % heads == 0, kCorruption, *file_, ": field '", join(width_key), "' (", width,
                 ") is not divisible by '", join(heads_key), "' (", heads, ")");
  }
  void fail(const std::string& what) const { SAM3RT_FAIL(kCorruption, *file_, ": ", path_.empty() ? "" : path_ + ": ", what); }

 private:
  const Json* find(const char* key) const {
    if (json_ == nullptr) return nullptr;
    auto it = json_->find(key);
    return it == json_->end() ? nullptr : &*it;
  }
  const Json* present(const char* key) const {
    const Json* v = find(key);
    return (v == nullptr || v->is_null()) ? nullptr : v;
  }
  std::string join(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  const Json* json_;
  std::string path_;
  const std::string* file_;
};

VitConfig parse_vit(const Node& n) {
  VitConfig c;
  n.read("hidden_size", c.hidden_size);
  n.read("intermediate_size", c.intermediate_size);
  n.read("num_hidden_layers", c.num_hidden_layers);
  n.read("num_attention_heads", c.num_attention_heads);
  n.read("num_channels", c.num_channels);
  n.read("image_size", c.image_size);
  n.read("patch_size", c.patch_size);
  n.read("pretrain_image_size", c.pretrain_image_size);
  n.read("window_size", c.window_size);
  n.read("global_attn_indexes", c.global_attn_indexes);
  n.read("rope_theta", c.rope_theta);
  n.read("layer_norm_eps", c.layer_norm_eps);
  n.positive("intermediate_size", c.intermediate_size);
  n.positive("num_hidden_layers", c.num_hidden_layers);
  n.positive("num_channels", c.num_channels);
  n.positive("image_size", c.image_size);
  n.positive("patch_size", c.patch_size);
  n.positive("pretrain_image_size", c.pretrain_image_size);
  n.positive("window_size", c.window_size);
  n.divides("num_attention_heads", c.num_attention_heads, "hidden_size", c.hidden_size);
  if (c.head_dim() % 4 != 0) n.fail("the ViT head dimension must be a multiple of 4 for 2-D RoPE");
  if (c.image_size % c.patch_size != 0) n.fail("image_size must be a multiple of patch_size");
  if (c.pretrain_image_size % c.patch_size != 0) n.fail("pretrain_image_size must be a multiple of patch_size");
  for (int64_t i : c.global_attn_indexes) {
    if (i < 0 || i >= c.num_hidden_layers) n.fail("global_attn_indexes entry " + std::to_string(i) + " is not a layer index");
  }
  if (c.rope_theta <= 0) n.fail("rope_theta must be positive");
  return c;
}

VisionConfig parse_vision(const Node& n) {
  VisionConfig c;
  c.backbone = parse_vit(n.child("backbone_config"));
  n.read("fpn_hidden_size", c.fpn_hidden_size);
  n.read("scale_factors", c.scale_factors);
  n.read("backbone_feature_sizes", c.backbone_feature_sizes);
  n.read("layer_norm_eps", c.layer_norm_eps);
  n.positive("fpn_hidden_size", c.fpn_hidden_size);
  for (double s : c.scale_factors) {
    if (s != 4.0 && s != 2.0 && s != 1.0 && s != 0.5) n.fail("scale_factors may only hold 4, 2, 1 and 0.5");
  }
  if (c.scale_factors.size() < 3) n.fail("scale_factors needs at least the 4, 2 and 1 levels");
  return c;
}

TextConfig parse_text(const Node& n) {
  TextConfig c;
  n.read("vocab_size", c.vocab_size);
  n.read("hidden_size", c.hidden_size);
  n.read("intermediate_size", c.intermediate_size);
  n.read("projection_dim", c.projection_dim);
  n.read("num_hidden_layers", c.num_hidden_layers);
  n.read("num_attention_heads", c.num_attention_heads);
  n.read("max_position_embeddings", c.max_position_embeddings);
  n.read("layer_norm_eps", c.layer_norm_eps);
  n.read("bos_token_id", c.bos_token_id);
  n.read("eos_token_id", c.eos_token_id);
  n.read("pad_token_id", c.pad_token_id);
  n.read("hidden_act", c.hidden_act);
  if (c.hidden_act != "gelu" && c.hidden_act != "quick_gelu") n.fail("text hidden_act must be gelu or quick_gelu");
  n.positive("vocab_size", c.vocab_size);
  n.positive("intermediate_size", c.intermediate_size);
  n.positive("projection_dim", c.projection_dim);
  n.positive("num_hidden_layers", c.num_hidden_layers);
  n.positive("max_position_embeddings", c.max_position_embeddings);
  n.divides("num_attention_heads", c.num_attention_heads, "hidden_size", c.hidden_size);
  if (c.bos_token_id < 0 || c.bos_token_id >= c.vocab_size || c.eos_token_id < 0 || c.eos_token_id >= c.vocab_size) {
    n.fail("bos_token_id and eos_token_id must be inside the vocabulary");
  }
  if (c.max_position_embeddings < 2) n.fail("max_position_embeddings must leave room for start and end tokens");
  return c;
}

DetectorTransformerConfig parse_detector_transformer(const Node& n, DetectorTransformerConfig c) {
  n.read("hidden_size", c.hidden_size);
  n.read("num_layers", c.num_layers);
  n.read("num_attention_heads", c.num_attention_heads);
  n.read("intermediate_size", c.intermediate_size);
  n.read("layer_norm_eps", c.layer_norm_eps);
  n.read("hidden_act", c.hidden_act);
  n.read("roi_size", c.roi_size);
  n.read("num_queries", c.num_queries);
  n.positive("num_layers", c.num_layers);
  n.positive("intermediate_size", c.intermediate_size);
  n.positive("roi_size", c.roi_size);
  n.positive("num_queries", c.num_queries);
  n.divides("num_attention_heads", c.num_attention_heads, "hidden_size", c.hidden_size);
  if (c.hidden_act != "relu" && c.hidden_act != "gelu") n.fail("hidden_act must be relu or gelu");
  return c;
}

DetectorConfig parse_detector(const Node& n) {
  DetectorConfig c;
  c.vision = parse_vision(n.child("vision_config"));
  c.text = parse_text(n.child("text_config"));
  c.geometry_encoder = parse_detector_transformer(n.child("geometry_encoder_config"), c.geometry_encoder);
  c.detr_encoder = parse_detector_transformer(n.child("detr_encoder_config"), c.detr_encoder);
  c.detr_decoder = parse_detector_transformer(n.child("detr_decoder_config"), c.detr_decoder);
  Node m = n.child("mask_decoder_config");
  m.read("hidden_size", c.mask_decoder.hidden_size);
  m.read("num_upsampling_stages", c.mask_decoder.num_upsampling_stages);
  m.read("num_attention_heads", c.mask_decoder.num_attention_heads);
  m.read("layer_norm_eps", c.mask_decoder.layer_norm_eps);
  m.divides("num_attention_heads", c.mask_decoder.num_attention_heads, "hidden_size", c.mask_decoder.hidden_size);
  m.positive("num_upsampling_stages", c.mask_decoder.num_upsampling_stages);
  if (c.mask_decoder.num_upsampling_stages < 2) m.fail("num_upsampling_stages must be at least 2");
  // The detector modules are all one width (d_model): they exchange tokens directly.
  const int64_t d = c.detr_encoder.hidden_size;
  if (c.vision.fpn_hidden_size != d || c.geometry_encoder.hidden_size != d || c.detr_decoder.hidden_size != d ||
      c.mask_decoder.hidden_size != d) {
    n.fail("fpn, geometry encoder, DETR encoder/decoder and mask decoder hidden sizes must be equal");
  }
  if (d % 4 != 0) n.fail("the detector width must be a multiple of 4 (sine box encodings)");
  return c;
}

HieraConfig parse_hiera(const Node& n) {
  HieraConfig c;
  n.read("hidden_size", c.hidden_size);
  n.read("num_attention_heads", c.num_attention_heads);
  n.read("num_channels", c.num_channels);
  n.read("image_size", c.image_size);
  n.read("patch_kernel_size", c.patch_kernel_size);
  n.read("patch_stride", c.patch_stride);
  n.read("patch_padding", c.patch_padding);
  n.read("query_stride", c.query_stride);
  n.read("window_positional_embedding_background_size", c.window_positional_embedding_background_size);
  n.read("num_query_pool_stages", c.num_query_pool_stages);
  n.read("blocks_per_stage", c.blocks_per_stage);
  n.read("embed_dim_per_stage", c.embed_dim_per_stage);
  n.read("num_attention_heads_per_stage", c.num_attention_heads_per_stage);
  n.read("window_size_per_stage", c.window_size_per_stage);
  n.read("global_attention_blocks", c.global_attention_blocks);
  n.read("mlp_ratio", c.mlp_ratio);
  n.read("hidden_act", c.hidden_act);
  n.read("layer_norm_eps", c.layer_norm_eps);
  n.positive("hidden_size", c.hidden_size);
  n.positive("num_channels", c.num_channels);
  auto pair = [&n](const char* name, const std::vector<int64_t>& v, bool allow_zero) {
    if (v.size() != 2 || v[0] < (allow_zero ? 0 : 1) || v[1] < (allow_zero ? 0 : 1)) {
      n.fail(std::string(name) + " must be two " + (allow_zero ? "non-negative" : "positive") + " integers");
    }
  };
  pair("image_size", c.image_size, false);
  pair("patch_kernel_size", c.patch_kernel_size, false);
  pair("patch_stride", c.patch_stride, false);
  pair("patch_padding", c.patch_padding, true);
  pair("query_stride", c.query_stride, false);
  pair("window_positional_embedding_background_size", c.window_positional_embedding_background_size, false);
  // Square kernels, strides and pooling (every released size; the modules take one value).
  for (const auto* p : {&c.patch_kernel_size, &c.patch_stride, &c.patch_padding, &c.query_stride}) {
    if ((*p)[0] != (*p)[1]) n.fail("patch_kernel_size, patch_stride, patch_padding and query_stride must be square");
  }
  const size_t stages = c.blocks_per_stage.size();
  if (stages == 0) n.fail("blocks_per_stage must name at least one stage");
  if (c.embed_dim_per_stage.size() != stages || c.num_attention_heads_per_stage.size() != stages ||
      c.window_size_per_stage.size() != stages) {
    n.fail("blocks_per_stage, embed_dim_per_stage, num_attention_heads_per_stage and window_size_per_stage must "
           "have one entry per stage");
  }
  int64_t blocks = 0;
  for (size_t s = 0; s < stages; ++s) {
    const std::string at = "[" + std::to_string(s) + "]";
    if (c.blocks_per_stage[s] < 1) n.fail("blocks_per_stage" + at + " must be positive");
    if (c.window_size_per_stage[s] < 0) n.fail("window_size_per_stage" + at + " must not be negative");
    n.divides(("num_attention_heads_per_stage" + at).c_str(), c.num_attention_heads_per_stage[s],
              ("embed_dim_per_stage" + at).c_str(), c.embed_dim_per_stage[s]);
    blocks += c.blocks_per_stage[s];
  }
  if (c.embed_dim_per_stage[0] != c.hidden_size) n.fail("embed_dim_per_stage[0] must equal hidden_size");
  if (c.num_query_pool_stages < 0 || c.num_query_pool_stages >= static_cast<int64_t>(stages)) {
    n.fail("num_query_pool_stages must be below the number of stages");
  }
  for (int64_t b : c.global_attention_blocks) {
    if (b < 0 || b >= blocks) n.fail("global_attention_blocks entry " + std::to_string(b) + " is not a block index");
  }
  if (!(c.mlp_ratio > 0) || c.mlp_ratio > 64) n.fail("mlp_ratio must be in (0, 64]");
  if (c.hidden_act != "gelu") n.fail("hidden_act must be gelu");
  // The window position embedding is tiled over the first stage's grid.
  const int64_t w0 = c.window_size_per_stage[0];
  for (int i = 0; i < 2; ++i) {
    const int64_t g = (c.image_size[i] + 2 * c.patch_padding[i] - c.patch_kernel_size[i]) / c.patch_stride[i] + 1;
    if (g < 1 || w0 < 1 || g % w0 != 0) {
      n.fail("the first stage's grid (" + std::to_string(g) + ") must be a multiple of window_size_per_stage[0]");
    }
  }
  return c;
}

HieraVisionConfig parse_hiera_vision(const Node& n) {
  HieraVisionConfig c;
  c.backbone = parse_hiera(n.child("backbone_config"));
  n.read("backbone_channel_list", c.backbone_channel_list);
  n.read("backbone_feature_sizes", c.backbone_feature_sizes);
  n.read("fpn_hidden_size", c.fpn_hidden_size);
  n.read("fpn_kernel_size", c.fpn_kernel_size);
  n.read("fpn_stride", c.fpn_stride);
  n.read("fpn_padding", c.fpn_padding);
  n.read("fpn_top_down_levels", c.fpn_top_down_levels);
  n.read("num_feature_levels", c.num_feature_levels);
  n.read("layer_norm_eps", c.layer_norm_eps);
  n.positive("fpn_hidden_size", c.fpn_hidden_size);
  const auto& dims = c.backbone.embed_dim_per_stage;
  const size_t stages = dims.size();
  if (c.backbone_channel_list.size() != stages) n.fail("backbone_channel_list needs one entry per Hiera stage");
  for (size_t k = 0; k < stages; ++k) {
    if (c.backbone_channel_list[k] != dims[stages - 1 - k]) {
      n.fail("backbone_channel_list must be embed_dim_per_stage reversed");
    }
  }
  n.positive("fpn_kernel_size", c.fpn_kernel_size);
  n.positive("fpn_stride", c.fpn_stride);
  if (c.fpn_padding < 0) n.fail("fpn_padding must not be negative");
  for (int64_t l : c.fpn_top_down_levels) {
    if (l < 0 || l >= static_cast<int64_t>(stages)) n.fail("fpn_top_down_levels entry is not a stage index");
  }
  if (c.num_feature_levels != 3 || static_cast<int64_t>(stages) < 3) {
    n.fail("the tracker needs num_feature_levels = 3 (and at least three Hiera stages)");
  }
  return c;
}

TrackerConfig parse_tracker(const Node& n, bool video, const VisionConfig* shared_vision, bool sam2 = false) {
  TrackerConfig c;
  int64_t fpn_width = 0;
  if (sam2) {
    c.hiera = parse_hiera_vision(n.child("vision_config"));
    c.image_size = c.hiera->backbone.image_size[0];
    fpn_width = c.hiera->fpn_hidden_size;
    // SAM 2's defaults where they differ from SAM 3's tracker.
    c.prompt_encoder.image_size = 1024;
    c.prompt_encoder.patch_size = 16;
  } else {
    c.vision = shared_vision ? *shared_vision : parse_vision(n.child("vision_config"));
    c.image_size = c.vision->backbone.image_size;
    fpn_width = c.vision->fpn_hidden_size;
  }
  n.read("image_size", c.image_size);
  Node p = n.child("prompt_encoder_config");
  p.read("hidden_size", c.prompt_encoder.hidden_size);
  p.read("image_size", c.prompt_encoder.image_size);
  p.read("patch_size", c.prompt_encoder.patch_size);
  p.read("mask_input_channels", c.prompt_encoder.mask_input_channels);
  p.read("num_point_embeddings", c.prompt_encoder.num_point_embeddings);
  p.read("layer_norm_eps", c.prompt_encoder.layer_norm_eps);
  p.read("scale", c.prompt_encoder.scale);
  p.positive("hidden_size", c.prompt_encoder.hidden_size);
  p.positive("image_size", c.prompt_encoder.image_size);
  p.positive("patch_size", c.prompt_encoder.patch_size);
  p.positive("mask_input_channels", c.prompt_encoder.mask_input_channels);
  if (c.prompt_encoder.num_point_embeddings != 4) p.fail("num_point_embeddings must be 4");
  if (c.prompt_encoder.hidden_size % 2 != 0) p.fail("hidden_size must be even (sin/cos halves)");

  Node m = n.child("mask_decoder_config");
  auto& md = c.mask_decoder;
  m.read("hidden_size", md.hidden_size);
  m.read("mlp_dim", md.mlp_dim);
  m.read("num_hidden_layers", md.num_hidden_layers);
  m.read("num_attention_heads", md.num_attention_heads);
  m.read("attention_downsample_rate", md.attention_downsample_rate);
  m.read("num_multimask_outputs", md.num_multimask_outputs);
  m.read("iou_head_depth", md.iou_head_depth);
  m.read("iou_head_hidden_dim", md.iou_head_hidden_dim);
  m.read("dynamic_multimask_via_stability", md.dynamic_multimask_via_stability);
  m.read("dynamic_multimask_stability_delta", md.dynamic_multimask_stability_delta);
  m.read("dynamic_multimask_stability_thresh", md.dynamic_multimask_stability_thresh);
  m.positive("mlp_dim", md.mlp_dim);
  m.positive("num_hidden_layers", md.num_hidden_layers);
  m.positive("attention_downsample_rate", md.attention_downsample_rate);
  m.positive("num_multimask_outputs", md.num_multimask_outputs);
  m.positive("iou_head_hidden_dim", md.iou_head_hidden_dim);
  m.divides("num_attention_heads", md.num_attention_heads, "hidden_size", md.hidden_size);
  if (md.iou_head_depth < 2) m.fail("iou_head_depth must be at least 2");
  if ((md.hidden_size / md.attention_downsample_rate) % md.num_attention_heads != 0 ||
      md.hidden_size % md.attention_downsample_rate != 0) {
    m.fail("hidden_size / attention_downsample_rate must be divisible by num_attention_heads");
  }
  if (md.hidden_size % 8 != 0) m.fail("hidden_size must be a multiple of 8 (upscaling to /4 and /8 channels)");
  if (md.hidden_size != c.prompt_encoder.hidden_size || md.hidden_size != fpn_width) {
    n.fail("tracker mask decoder, prompt encoder and FPN hidden sizes must be equal");
  }

  if (c.hiera) {
    const HieraConfig& h = c.hiera->backbone;
    if (h.image_size[0] != h.image_size[1] || h.image_size[0] != c.image_size) {
      n.fail("vision_config.backbone_config.image_size must be square and equal image_size");
    }
    if (c.prompt_encoder.image_size != c.image_size) n.fail("prompt_encoder_config.image_size must equal image_size");
  }

  if (video) {
    TrackerVideoConfig v;
    if (sam2) {  // Sam2VideoConfig's defaults where they differ from Sam3TrackerVideoConfig's
      v.max_cond_frame_num = -1;
      v.memory_attention_rope_feat_sizes = {64, 64};
    }
    n.read("num_maskmem", v.num_maskmem);
    n.read("sigmoid_scale_for_mem_enc", v.sigmoid_scale_for_mem_enc);
    n.read("sigmoid_bias_for_mem_enc", v.sigmoid_bias_for_mem_enc);
    n.read("enable_occlusion_spatial_embedding", v.enable_occlusion_spatial_embedding);
    n.read("multimask_output_in_sam", v.multimask_output_in_sam);
    n.read("multimask_min_pt_num", v.multimask_min_pt_num);
    n.read("multimask_max_pt_num", v.multimask_max_pt_num);
    n.read("multimask_output_for_tracking", v.multimask_output_for_tracking);
    n.read("max_object_pointers_in_encoder", v.max_object_pointers_in_encoder);
    n.read("max_cond_frame_num", v.max_cond_frame_num);
    n.read("enable_temporal_pos_encoding_for_object_pointers", v.enable_temporal_pos_encoding_for_object_pointers);
    n.read("memory_attention_hidden_size", v.memory_attention_hidden_size);
    n.read("memory_attention_num_layers", v.memory_attention_num_layers);
    n.read("memory_attention_num_attention_heads", v.memory_attention_num_attention_heads);
    n.read("memory_attention_downsample_rate", v.memory_attention_downsample_rate);
    n.read("memory_attention_feed_forward_hidden_size", v.memory_attention_feed_forward_hidden_size);
    n.read("memory_attention_rope_theta", v.memory_attention_rope_theta);
    n.read("memory_attention_rope_feat_sizes", v.memory_attention_rope_feat_sizes);
    n.read("memory_encoder_hidden_size", v.memory_encoder_hidden_size);
    n.read("memory_encoder_output_channels", v.memory_encoder_output_channels);
    n.read("mask_downsampler_embed_dim", v.mask_downsampler_embed_dim);
    n.read("mask_downsampler_kernel_size", v.mask_downsampler_kernel_size);
    n.read("mask_downsampler_stride", v.mask_downsampler_stride);
    n.read("mask_downsampler_padding", v.mask_downsampler_padding);
    n.read("mask_downsampler_total_stride", v.mask_downsampler_total_stride);
    n.read("memory_fuser_num_layers", v.memory_fuser_num_layers);
    n.read("memory_fuser_embed_dim", v.memory_fuser_embed_dim);
    n.read("memory_fuser_intermediate_dim", v.memory_fuser_intermediate_dim);
    n.read("memory_fuser_kernel_size", v.memory_fuser_kernel_size);
    n.read("memory_fuser_padding", v.memory_fuser_padding);
    n.positive("num_maskmem", v.num_maskmem);
    n.positive("max_object_pointers_in_encoder", v.max_object_pointers_in_encoder);
    if (v.max_cond_frame_num != -1 && v.max_cond_frame_num < 1) {
      n.fail("max_cond_frame_num must be positive or -1 (every conditioning frame)");
    }
    n.positive("memory_attention_num_layers", v.memory_attention_num_layers);
    n.positive("memory_attention_downsample_rate", v.memory_attention_downsample_rate);
    n.positive("memory_attention_feed_forward_hidden_size", v.memory_attention_feed_forward_hidden_size);
    n.positive("memory_encoder_output_channels", v.memory_encoder_output_channels);
    n.positive("mask_downsampler_kernel_size", v.mask_downsampler_kernel_size);
    n.positive("mask_downsampler_stride", v.mask_downsampler_stride);
    n.positive("mask_downsampler_total_stride", v.mask_downsampler_total_stride);
    n.positive("memory_fuser_num_layers", v.memory_fuser_num_layers);
    n.positive("memory_fuser_intermediate_dim", v.memory_fuser_intermediate_dim);
    n.positive("memory_fuser_kernel_size", v.memory_fuser_kernel_size);
    if (v.memory_attention_rope_feat_sizes.size() != 2) n.fail("memory_attention_rope_feat_sizes must be [h, w]");
    n.divides("memory_attention_num_attention_heads", v.memory_attention_num_attention_heads,
              "memory_attention_hidden_size", v.memory_attention_hidden_size / v.memory_attention_downsample_rate);
    if (v.mask_downsampler_stride < 2) n.fail("mask_downsampler_stride must be at least 2");
    int64_t reached = 1;  // the smallest power of the stride >= the total stride, without overflow
    while (reached < v.mask_downsampler_total_stride &&
           reached <= v.mask_downsampler_total_stride / v.mask_downsampler_stride) {
      reached *= v.mask_downsampler_stride;
    }
    if (reached != v.mask_downsampler_total_stride) {
      n.fail("mask_downsampler_total_stride must be a power of mask_downsampler_stride");
    }
    if (v.memory_attention_hidden_size != md.hidden_size || v.memory_encoder_hidden_size != md.hidden_size ||
        v.mask_downsampler_embed_dim != md.hidden_size || v.memory_fuser_embed_dim != md.hidden_size) {
      n.fail("memory attention, memory encoder, mask downsampler and fuser widths must equal the tracker width");
    }
    c.video = v;
  }
  return c;
}

VideoPipelineConfig parse_video_pipeline(const Node& n) {
  VideoPipelineConfig c;
  n.read("low_res_mask_size", c.low_res_mask_size);
  n.read("score_threshold_detection", c.score_threshold_detection);
  n.read("det_nms_thresh", c.det_nms_thresh);
  n.read("assoc_iou_thresh", c.assoc_iou_thresh);
  n.read("trk_assoc_iou_thresh", c.trk_assoc_iou_thresh);
  n.read("new_det_thresh", c.new_det_thresh);
  n.read("recondition_on_trk_masks", c.recondition_on_trk_masks);
  n.read("hotstart_delay", c.hotstart_delay);
  n.read("hotstart_unmatch_thresh", c.hotstart_unmatch_thresh);
  n.read("hotstart_dup_thresh", c.hotstart_dup_thresh);
  n.read("suppress_unmatched_only_within_hotstart", c.suppress_unmatched_only_within_hotstart);
  n.read("init_trk_keep_alive", c.init_trk_keep_alive);
  n.read("max_trk_keep_alive", c.max_trk_keep_alive);
  n.read("min_trk_keep_alive", c.min_trk_keep_alive);
  n.read("suppress_overlapping_based_on_recent_occlusion_threshold",
         c.suppress_overlapping_based_on_recent_occlusion_threshold);
  n.read("decrease_trk_keep_alive_for_empty_masklets", c.decrease_trk_keep_alive_for_empty_masklets);
  n.read("fill_hole_area", c.fill_hole_area);
  n.read("max_num_objects", c.max_num_objects);
  n.read("recondition_every_nth_frame", c.recondition_every_nth_frame);
  n.read("high_conf_thresh", c.high_conf_thresh);
  n.read("high_iou_thresh", c.high_iou_thresh);
  n.positive("low_res_mask_size", c.low_res_mask_size);
  n.positive("max_num_objects", c.max_num_objects);
  n.positive("recondition_every_nth_frame", c.recondition_every_nth_frame);
  return c;
}

}  // namespace

const char* model_type_name(ModelType type) {
  switch (type) {
    case ModelType::kSam3Image: return "sam3";
    case ModelType::kSam3Tracker: return "sam3_tracker";
    case ModelType::kSam3Video: return "sam3_video";
    case ModelType::kSam2Image: return "sam2";
    case ModelType::kSam2Video: return "sam2_video";
  }
  return "?";
}

ModelConfig parse_model_config(const std::string& json_text, const std::string& file) {
  Json root;
  try {
    root = Json::parse(json_text, [&file](int depth, Json::parse_event_t, Json&) {
      SAM3RT_CHECK(depth <= kMaxJsonDepth, kCorruption, file, ": not a config: JSON nested more than ",
                   kMaxJsonDepth, " levels deep");
      return true;
    });
  } catch (const Json::exception& e) {
    SAM3RT_FAIL(kCorruption, file, ": not valid JSON: ", e.what());
  }
  SAM3RT_CHECK(root.is_object(), kCorruption, file, ": config is not a JSON object");
  Node top(&root, "", &file);
  std::string model_type;
  top.read("model_type", model_type);
  SAM3RT_CHECK(!model_type.empty(), kCorruption, file, ": field 'model_type' is missing");

  ModelConfig c;
  if (model_type == "sam3") {
    c.type = ModelType::kSam3Image;
    c.detector = parse_detector(top);
  } else if (model_type == "sam3_tracker") {
    c.type = ModelType::kSam3Tracker;
    c.tracker = parse_tracker(top, /*video=*/false, nullptr);
  } else if (model_type == "sam3_video") {
    c.type = ModelType::kSam3Video;
    c.detector = parse_detector(top.child("detector_config"));
    // The tracker neck is built from the detector's vision config and the ViT is shared.
    c.tracker = parse_tracker(top.child("tracker_config"), /*video=*/true, &c.detector->vision);
    c.video = parse_video_pipeline(top);
  } else if (model_type == "sam2" || model_type == "sam2_video") {
    const bool video = model_type == "sam2_video";
    c.type = video ? ModelType::kSam2Video : ModelType::kSam2Image;
    c.tracker = parse_tracker(top, video, nullptr, /*sam2=*/true);
    c.image_mean = {0.485, 0.456, 0.406};
    c.image_std = {0.229, 0.224, 0.225};
  } else {
    SAM3RT_FAIL(kUnsupported, file, ": unknown model_type '", model_type,
                "' (sam3rt loads sam3, sam3_tracker, sam3_video, sam2 and sam2_video)");
  }
  return c;
}

ModelConfig load_model_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::ifstream probe(path);
    SAM3RT_FAIL(kNotFound, path, ": cannot open config (missing or unreadable)");
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  SAM3RT_CHECK(!in.bad(), kIo, path, ": read failed");
  return parse_model_config(buf.str(), path);
}

}  // namespace sam3rt
