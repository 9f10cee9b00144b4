// Typed config.json parsing: the released facebook/sam3 configs of the three layouts, the
// tiny fixture configs, the defaults a sparse config falls back to, and malformed configs
// (each a sam3rt::Error naming the file and the field path).
#include "testing/errors.h"
#include "io/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "sam3rt/error.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

using ::sam3rt::testing::data_path;
using Sizes = std::vector<int64_t>;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string full(const std::string& layout) { return data_path("sam3-full-manifest/" + layout + "_config.json"); }
std::string tiny(const std::string& layout) { return data_path("sam3-tiny-seed0/" + layout + "/config.json"); }

using testing::expect_error;

// Parses `json` as "test.json", expecting kCorruption with every needle in the message.
void expect_corrupt(const std::string& json, const std::vector<std::string>& needles) {
  SCOPED_TRACE(json.substr(0, 300));
  const std::string msg = expect_error(ErrorCode::kCorruption, [&] { parse_model_config(json, "test.json"); });
  EXPECT_EQ(msg.rfind("test.json: ", 0), 0u) << "message does not start with the file: " << msg;
  for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
}

// --- field-by-field comparison ----------------------------------------------------------------

void expect_same(const VitConfig& a, const VitConfig& b) {
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_channels, b.num_channels);
  EXPECT_EQ(a.image_size, b.image_size);
  EXPECT_EQ(a.patch_size, b.patch_size);
  EXPECT_EQ(a.pretrain_image_size, b.pretrain_image_size);
  EXPECT_EQ(a.window_size, b.window_size);
  EXPECT_EQ(a.global_attn_indexes, b.global_attn_indexes);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.layer_norm_eps, b.layer_norm_eps);
  EXPECT_EQ(a.head_dim(), b.head_dim());
  EXPECT_EQ(a.grid(), b.grid());
  EXPECT_EQ(a.pretrain_grid(), b.pretrain_grid());
}

void expect_same(const VisionConfig& a, const VisionConfig& b) {
  expect_same(a.backbone, b.backbone);
  EXPECT_EQ(a.fpn_hidden_size, b.fpn_hidden_size);
  EXPECT_EQ(a.scale_factors, b.scale_factors);
  EXPECT_EQ(a.backbone_feature_sizes, b.backbone_feature_sizes);
  EXPECT_EQ(a.layer_norm_eps, b.layer_norm_eps);
}

void expect_same(const TextConfig& a, const TextConfig& b) {
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.projection_dim, b.projection_dim);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.layer_norm_eps, b.layer_norm_eps);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_id, b.eos_token_id);
  EXPECT_EQ(a.pad_token_id, b.pad_token_id);
  EXPECT_EQ(a.hidden_act, b.hidden_act);
}

void expect_same(const DetectorTransformerConfig& a, const DetectorTransformerConfig& b) {
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.layer_norm_eps, b.layer_norm_eps);
  EXPECT_EQ(a.hidden_act, b.hidden_act);
  EXPECT_EQ(a.roi_size, b.roi_size);
  EXPECT_EQ(a.num_queries, b.num_queries);
}

void expect_same(const SegmentationHeadConfig& a, const SegmentationHeadConfig& b) {
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_upsampling_stages, b.num_upsampling_stages);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.layer_norm_eps, b.layer_norm_eps);
}

void expect_same(const DetectorConfig& a, const DetectorConfig& b) {
  expect_same(a.vision, b.vision);
  expect_same(a.text, b.text);
  expect_same(a.geometry_encoder, b.geometry_encoder);
  expect_same(a.detr_encoder, b.detr_encoder);
  expect_same(a.detr_decoder, b.detr_decoder);
  expect_same(a.mask_decoder, b.mask_decoder);
}

void expect_same(const PromptEncoderConfig& a, const PromptEncoderConfig& b) {
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.image_size, b.image_size);
  EXPECT_EQ(a.patch_size, b.patch_size);
  EXPECT_EQ(a.mask_input_channels, b.mask_input_channels);
  EXPECT_EQ(a.num_point_embeddings, b.num_point_embeddings);
  EXPECT_EQ(a.layer_norm_eps, b.layer_norm_eps);
  EXPECT_EQ(a.scale, b.scale);
}

void expect_same(const TrackerMaskDecoderConfig& a, const TrackerMaskDecoderConfig& b) {
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.mlp_dim, b.mlp_dim);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.attention_downsample_rate, b.attention_downsample_rate);
  EXPECT_EQ(a.num_multimask_outputs, b.num_multimask_outputs);
  EXPECT_EQ(a.iou_head_depth, b.iou_head_depth);
  EXPECT_EQ(a.iou_head_hidden_dim, b.iou_head_hidden_dim);
  EXPECT_EQ(a.dynamic_multimask_via_stability, b.dynamic_multimask_via_stability);
  EXPECT_EQ(a.dynamic_multimask_stability_delta, b.dynamic_multimask_stability_delta);
  EXPECT_EQ(a.dynamic_multimask_stability_thresh, b.dynamic_multimask_stability_thresh);
}

void expect_same(const TrackerVideoConfig& a, const TrackerVideoConfig& b) {
  EXPECT_EQ(a.num_maskmem, b.num_maskmem);
  EXPECT_EQ(a.sigmoid_scale_for_mem_enc, b.sigmoid_scale_for_mem_enc);
  EXPECT_EQ(a.sigmoid_bias_for_mem_enc, b.sigmoid_bias_for_mem_enc);
  EXPECT_EQ(a.enable_occlusion_spatial_embedding, b.enable_occlusion_spatial_embedding);
  EXPECT_EQ(a.multimask_output_in_sam, b.multimask_output_in_sam);
  EXPECT_EQ(a.multimask_min_pt_num, b.multimask_min_pt_num);
  EXPECT_EQ(a.multimask_max_pt_num, b.multimask_max_pt_num);
  EXPECT_EQ(a.multimask_output_for_tracking, b.multimask_output_for_tracking);
  EXPECT_EQ(a.max_object_pointers_in_encoder, b.max_object_pointers_in_encoder);
  EXPECT_EQ(a.max_cond_frame_num, b.max_cond_frame_num);
  EXPECT_EQ(a.enable_temporal_pos_encoding_for_object_pointers, b.enable_temporal_pos_encoding_for_object_pointers);
  EXPECT_EQ(a.memory_attention_hidden_size, b.memory_attention_hidden_size);
  EXPECT_EQ(a.memory_attention_num_layers, b.memory_attention_num_layers);
  EXPECT_EQ(a.memory_attention_num_attention_heads, b.memory_attention_num_attention_heads);
  EXPECT_EQ(a.memory_attention_downsample_rate, b.memory_attention_downsample_rate);
  EXPECT_EQ(a.memory_attention_feed_forward_hidden_size, b.memory_attention_feed_forward_hidden_size);
  EXPECT_EQ(a.memory_attention_rope_theta, b.memory_attention_rope_theta);
  EXPECT_EQ(a.memory_attention_rope_feat_sizes, b.memory_attention_rope_feat_sizes);
  EXPECT_EQ(a.memory_encoder_hidden_size, b.memory_encoder_hidden_size);
  EXPECT_EQ(a.memory_encoder_output_channels, b.memory_encoder_output_channels);
  EXPECT_EQ(a.mask_downsampler_embed_dim, b.mask_downsampler_embed_dim);
  EXPECT_EQ(a.mask_downsampler_kernel_size, b.mask_downsampler_kernel_size);
  EXPECT_EQ(a.mask_downsampler_stride, b.mask_downsampler_stride);
  EXPECT_EQ(a.mask_downsampler_padding, b.mask_downsampler_padding);
  EXPECT_EQ(a.mask_downsampler_total_stride, b.mask_downsampler_total_stride);
  EXPECT_EQ(a.memory_fuser_num_layers, b.memory_fuser_num_layers);
  EXPECT_EQ(a.memory_fuser_embed_dim, b.memory_fuser_embed_dim);
  EXPECT_EQ(a.memory_fuser_intermediate_dim, b.memory_fuser_intermediate_dim);
  EXPECT_EQ(a.memory_fuser_kernel_size, b.memory_fuser_kernel_size);
  EXPECT_EQ(a.memory_fuser_padding, b.memory_fuser_padding);
}


void expect_same(const TrackerConfig& a, const TrackerConfig& b) {
  ASSERT_EQ(a.vision.has_value(), b.vision.has_value());
  if (a.vision) expect_same(*a.vision, *b.vision);
  EXPECT_EQ(a.hiera.has_value(), b.hiera.has_value());
  EXPECT_EQ(a.image_size, b.image_size);
  expect_same(a.prompt_encoder, b.prompt_encoder);
  expect_same(a.mask_decoder, b.mask_decoder);
  ASSERT_EQ(a.video.has_value(), b.video.has_value());
  if (a.video) expect_same(*a.video, *b.video);
}

void expect_same(const VideoPipelineConfig& a, const VideoPipelineConfig& b) {
  EXPECT_EQ(a.low_res_mask_size, b.low_res_mask_size);
  EXPECT_EQ(a.score_threshold_detection, b.score_threshold_detection);
  EXPECT_EQ(a.det_nms_thresh, b.det_nms_thresh);
  EXPECT_EQ(a.assoc_iou_thresh, b.assoc_iou_thresh);
  EXPECT_EQ(a.trk_assoc_iou_thresh, b.trk_assoc_iou_thresh);
  EXPECT_EQ(a.new_det_thresh, b.new_det_thresh);
  EXPECT_EQ(a.recondition_on_trk_masks, b.recondition_on_trk_masks);
  EXPECT_EQ(a.hotstart_delay, b.hotstart_delay);
  EXPECT_EQ(a.hotstart_unmatch_thresh, b.hotstart_unmatch_thresh);
  EXPECT_EQ(a.hotstart_dup_thresh, b.hotstart_dup_thresh);
  EXPECT_EQ(a.suppress_unmatched_only_within_hotstart, b.suppress_unmatched_only_within_hotstart);
  EXPECT_EQ(a.init_trk_keep_alive, b.init_trk_keep_alive);
  EXPECT_EQ(a.max_trk_keep_alive, b.max_trk_keep_alive);
  EXPECT_EQ(a.min_trk_keep_alive, b.min_trk_keep_alive);
  EXPECT_EQ(a.suppress_overlapping_based_on_recent_occlusion_threshold,
            b.suppress_overlapping_based_on_recent_occlusion_threshold);
  EXPECT_EQ(a.decrease_trk_keep_alive_for_empty_masklets, b.decrease_trk_keep_alive_for_empty_masklets);
  EXPECT_EQ(a.fill_hole_area, b.fill_hole_area);
  EXPECT_EQ(a.max_num_objects, b.max_num_objects);
  EXPECT_EQ(a.recondition_every_nth_frame, b.recondition_every_nth_frame);
  EXPECT_EQ(a.high_conf_thresh, b.high_conf_thresh);
  EXPECT_EQ(a.high_iou_thresh, b.high_iou_thresh);
}

// --- what each layout holds ----------------------------------------------------------------

// A layout's model type and the sub-configs its config.json gives; the released and the
// tiny config of a layout agree on these.
struct Layout {
  const char* file;       // full(file), tiny(file)
  ModelType type;
  const char* type_name;  // model_type_name(type)
  bool detector, tracker, tracker_video, video;
};
constexpr Layout kImage{"sam3_image", ModelType::kSam3Image, "sam3", true, false, false, false};
constexpr Layout kTracker{"sam3_tracker", ModelType::kSam3Tracker, "sam3_tracker", false, true, false, false};
constexpr Layout kVideo{"sam3_video", ModelType::kSam3Video, "sam3_video", true, true, true, true};

// Loads `path`, expecting `layout`'s type and exactly its sub-configs.
ModelConfig load_layout(const std::string& path, const Layout& layout) {
  SCOPED_TRACE(path);
  ModelConfig c = load_model_config(path);
  EXPECT_EQ(c.type, layout.type);
  EXPECT_STREQ(model_type_name(c.type), layout.type_name);
  EXPECT_EQ(c.detector.has_value(), layout.detector);
  EXPECT_EQ(c.tracker.has_value(), layout.tracker);
  EXPECT_EQ(c.tracker && c.tracker->video.has_value(), layout.tracker_video);
  EXPECT_EQ(c.video.has_value(), layout.video);
  return c;
}
ModelConfig load_full(const Layout& layout) { return load_layout(full(layout.file), layout); }
ModelConfig load_tiny(const Layout& layout) { return load_layout(tiny(layout.file), layout); }

// --- the released (full) configs: every value, as facebook/sam3's config.json files give them

VisionConfig released_vision() {
  return {.backbone = {.hidden_size = 1024, .intermediate_size = 4736, .num_hidden_layers = 32,
                       .num_attention_heads = 16, .num_channels = 3, .image_size = 1008, .patch_size = 14,
                       .pretrain_image_size = 336, .window_size = 24, .global_attn_indexes = {7, 15, 23, 31},
                       .rope_theta = 10000.0, .layer_norm_eps = 1e-6},
          .fpn_hidden_size = 256,
          .scale_factors = {4.0, 2.0, 1.0, 0.5},
          .backbone_feature_sizes = {{288, 288}, {144, 144}, {72, 72}},
          .layer_norm_eps = 1e-6};
}

DetectorConfig released_detector() {
  return {.vision = released_vision(),
          .text = {.vocab_size = 49408, .hidden_size = 1024, .intermediate_size = 4096, .projection_dim = 512,
                   .num_hidden_layers = 24, .num_attention_heads = 16, .max_position_embeddings = 32,
                   .layer_norm_eps = 1e-5, .bos_token_id = 49406, .eos_token_id = 49407, .pad_token_id = 1,
                   .hidden_act = "gelu"},
          // {hidden_size, num_layers, num_attention_heads, intermediate_size, layer_norm_eps,
          //  hidden_act, roi_size, num_queries}
          .geometry_encoder = {256, 3, 8, 2048, 1e-6, "relu", 7, 200},
          .detr_encoder = {256, 6, 8, 2048, 1e-6, "relu", 7, 200},
          .detr_decoder = {256, 6, 8, 2048, 1e-6, "relu", 7, 200},
          .mask_decoder = {.hidden_size = 256, .num_upsampling_stages = 3, .num_attention_heads = 8,
                           .layer_norm_eps = 1e-6}};
}

TrackerConfig released_tracker() {
  return {.vision = released_vision(),
          .image_size = 1008,
          .prompt_encoder = {.hidden_size = 256, .image_size = 1008, .patch_size = 14, .mask_input_channels = 16,
                             .num_point_embeddings = 4, .layer_norm_eps = 1e-6, .scale = 1.0},
          .mask_decoder = {.hidden_size = 256, .mlp_dim = 2048, .num_hidden_layers = 2, .num_attention_heads = 8,
                           .attention_downsample_rate = 2, .num_multimask_outputs = 3, .iou_head_depth = 3,
                           .iou_head_hidden_dim = 256, .dynamic_multimask_via_stability = true,
                           .dynamic_multimask_stability_delta = 0.05, .dynamic_multimask_stability_thresh = 0.98}};
}

// The memory of sam3_video's tracker.
TrackerVideoConfig released_tracker_video() {
  return {.num_maskmem = 7, .sigmoid_scale_for_mem_enc = 20.0, .sigmoid_bias_for_mem_enc = -10.0,
          .enable_occlusion_spatial_embedding = true, .multimask_output_in_sam = true, .multimask_min_pt_num = 0,
          .multimask_max_pt_num = 1, .multimask_output_for_tracking = true, .max_object_pointers_in_encoder = 16,
          .max_cond_frame_num = 4, .enable_temporal_pos_encoding_for_object_pointers = true,
          .memory_attention_hidden_size = 256, .memory_attention_num_layers = 4,
          .memory_attention_num_attention_heads = 1, .memory_attention_downsample_rate = 1,
          .memory_attention_feed_forward_hidden_size = 2048, .memory_attention_rope_theta = 10000.0,
          .memory_attention_rope_feat_sizes = {72, 72}, .memory_encoder_hidden_size = 256,
          .memory_encoder_output_channels = 64, .mask_downsampler_embed_dim = 256, .mask_downsampler_kernel_size = 3,
          .mask_downsampler_stride = 2, .mask_downsampler_padding = 1, .mask_downsampler_total_stride = 16,
          .memory_fuser_num_layers = 2, .memory_fuser_embed_dim = 256, .memory_fuser_intermediate_dim = 1024,
          .memory_fuser_kernel_size = 7, .memory_fuser_padding = 3};
}

VideoPipelineConfig released_video_pipeline() {
  return {.low_res_mask_size = 288, .score_threshold_detection = 0.5, .det_nms_thresh = 0.1,
          .assoc_iou_thresh = 0.1, .trk_assoc_iou_thresh = 0.5, .new_det_thresh = 0.7,
          .recondition_on_trk_masks = true, .hotstart_delay = 15, .hotstart_unmatch_thresh = 8,
          .hotstart_dup_thresh = 8, .suppress_unmatched_only_within_hotstart = true, .init_trk_keep_alive = 30,
          .max_trk_keep_alive = 30, .min_trk_keep_alive = -1,
          .suppress_overlapping_based_on_recent_occlusion_threshold = 0.7,
          .decrease_trk_keep_alive_for_empty_masklets = false, .fill_hole_area = 16, .max_num_objects = 10000,
          .recondition_every_nth_frame = 16, .high_conf_thresh = 0.8, .high_iou_thresh = 0.8};
}

TEST(ConfigTest, FullImageConfig) {
  const ModelConfig c = load_full(kImage);
  expect_same(c.detector.value(), released_detector());
  // The ViT's derived sizes.
  const VitConfig& vit = c.detector.value().vision.backbone;
  EXPECT_EQ(vit.head_dim(), 64);
  EXPECT_EQ(vit.grid(), 72);
  EXPECT_EQ(vit.pretrain_grid(), 24);
}

TEST(ConfigTest, FullTrackerConfig) { expect_same(load_full(kTracker).tracker.value(), released_tracker()); }

TEST(ConfigTest, FullVideoConfig) {
  const ModelConfig c = load_full(kVideo);
  expect_same(c.detector.value(), released_detector());
  TrackerConfig tracker = released_tracker();
  tracker.video = released_tracker_video();
  expect_same(c.tracker.value(), tracker);
  expect_same(c.video.value(), released_video_pipeline());
  // The detector and its image-only config agree; so do the tracker's prompt encoder and
  // mask decoder and the sam3_tracker config's.
  expect_same(*c.detector, load_model_config(full("sam3_image")).detector.value());
  TrackerConfig tracker_only = load_model_config(full("sam3_tracker")).tracker.value();
  tracker_only.video = c.tracker->video;
  expect_same(*c.tracker, tracker_only);
}

// --- the tiny fixture configs: the released model, narrowed ---------------------------------

// The ViT all tiny layouts share, and the FPN of width `d` on it.
VisionConfig tiny_vision(int64_t d) {
  return {.backbone = {.hidden_size = 32, .intermediate_size = 64, .num_hidden_layers = 4, .num_attention_heads = 2,
                       .num_channels = 3, .image_size = 224, .patch_size = 14, .pretrain_image_size = 112,
                       .window_size = 8, .global_attn_indexes = {1, 3}, .rope_theta = 10000.0,
                       .layer_norm_eps = 1e-6},
          .fpn_hidden_size = d,
          .scale_factors = {4.0, 2.0, 1.0, 0.5},
          .backbone_feature_sizes = {{64, 64}, {32, 32}, {16, 16}},
          .layer_norm_eps = 1e-6};
}

// The tiny detector of width `d` (32 in sam3_image, 64 in sam3_video; text and ViT as is).
DetectorConfig tiny_detector(int64_t d) {
  return {.vision = tiny_vision(d),
          .text = {.vocab_size = 100, .hidden_size = 32, .intermediate_size = 64, .projection_dim = 16,
                   .num_hidden_layers = 2, .num_attention_heads = 2, .max_position_embeddings = 32,
                   .layer_norm_eps = 1e-5, .bos_token_id = 98, .eos_token_id = 99, .pad_token_id = 99,
                   .hidden_act = "gelu"},
          // As in released_detector().
          .geometry_encoder = {d, 2, 2, 2 * d, 1e-6, "relu", 7, 200},
          .detr_encoder = {d, 2, 2, 2 * d, 1e-6, "relu", 7, 200},
          .detr_decoder = {d, 2, 2, 2 * d, 1e-6, "relu", 7, 8},
          .mask_decoder = {.hidden_size = d, .num_upsampling_stages = 3, .num_attention_heads = 2,
                           .layer_norm_eps = 1e-6}};
}

// The tiny tracker of width `d` (32 in sam3_tracker, 64 in sam3_video).
TrackerConfig tiny_tracker(int64_t d) {
  return {.vision = tiny_vision(d),
          .image_size = 224,
          .prompt_encoder = {.hidden_size = d, .image_size = 224, .patch_size = 14, .mask_input_channels = 4,
                             .num_point_embeddings = 4, .layer_norm_eps = 1e-6, .scale = 1.0},
          .mask_decoder = {.hidden_size = d, .mlp_dim = 2 * d, .num_hidden_layers = 2, .num_attention_heads = 2,
                           .attention_downsample_rate = 2, .num_multimask_outputs = 3, .iou_head_depth = 3,
                           .iou_head_hidden_dim = d, .dynamic_multimask_via_stability = true,
                           .dynamic_multimask_stability_delta = 0.05, .dynamic_multimask_stability_thresh = 0.98}};
}

TEST(ConfigTest, TinyImageConfig) {
  const ModelConfig c = load_tiny(kImage);
  expect_same(c.detector.value(), tiny_detector(32));
  const VitConfig& vit = c.detector.value().vision.backbone;
  EXPECT_EQ(vit.head_dim(), 16);
  EXPECT_EQ(vit.grid(), 16);
  EXPECT_EQ(vit.pretrain_grid(), 8);
}

TEST(ConfigTest, TinyTrackerConfig) { expect_same(load_tiny(kTracker).tracker.value(), tiny_tracker(32)); }

TEST(ConfigTest, TinyVideoConfig) {
  const ModelConfig c = load_tiny(kVideo);
  expect_same(c.detector.value(), tiny_detector(64));
  TrackerConfig tracker = tiny_tracker(64);
  tracker.video = TrackerVideoConfig{
      .num_maskmem = 3, .sigmoid_scale_for_mem_enc = 20.0, .sigmoid_bias_for_mem_enc = -10.0,
      .enable_occlusion_spatial_embedding = true, .multimask_output_in_sam = true, .multimask_min_pt_num = 0,
      .multimask_max_pt_num = 1, .multimask_output_for_tracking = true, .max_object_pointers_in_encoder = 4,
      .max_cond_frame_num = 2, .enable_temporal_pos_encoding_for_object_pointers = true,
      .memory_attention_hidden_size = 64, .memory_attention_num_layers = 2, .memory_attention_num_attention_heads = 1,
      .memory_attention_downsample_rate = 1, .memory_attention_feed_forward_hidden_size = 128,
      .memory_attention_rope_theta = 10000.0, .memory_attention_rope_feat_sizes = {16, 16},
      .memory_encoder_hidden_size = 64, .memory_encoder_output_channels = 64, .mask_downsampler_embed_dim = 64,
      .mask_downsampler_kernel_size = 3, .mask_downsampler_stride = 2, .mask_downsampler_padding = 1,
      .mask_downsampler_total_stride = 16, .memory_fuser_num_layers = 2, .memory_fuser_embed_dim = 64,
      .memory_fuser_intermediate_dim = 128, .memory_fuser_kernel_size = 7, .memory_fuser_padding = 3};
  expect_same(c.tracker.value(), tracker);
  // The tracker shares the detector's vision config (one ViT in the checkpoint).
  expect_same(c.tracker->vision.value(), c.detector->vision);
  expect_same(c.video.value(),
              VideoPipelineConfig{.low_res_mask_size = 64, .score_threshold_detection = 0.202819, .det_nms_thresh = 0.0,
               .assoc_iou_thresh = 0.1, .trk_assoc_iou_thresh = 0.5, .new_det_thresh = 0.202819,
               .recondition_on_trk_masks = true, .hotstart_delay = 2, .hotstart_unmatch_thresh = 2,
               .hotstart_dup_thresh = 2, .suppress_unmatched_only_within_hotstart = true, .init_trk_keep_alive = 3,
               .max_trk_keep_alive = 3, .min_trk_keep_alive = -1,
               .suppress_overlapping_based_on_recent_occlusion_threshold = 0.7,
               .decrease_trk_keep_alive_for_empty_masklets = false, .fill_hole_area = 0, .max_num_objects = 10000,
               .recondition_every_nth_frame = 3, .high_conf_thresh = 0.202819, .high_iou_thresh = 0.8});
}

TEST(ConfigTest, LoadEqualsParseOfTheText) {
  const std::string p = tiny("sam3_video");
  const ModelConfig a = load_model_config(p);
  const ModelConfig b = parse_model_config(read_text(p), p);
  expect_same(*a.detector, *b.detector);
  expect_same(*a.tracker, *b.tracker);
  expect_same(*a.video, *b.video);
}

// --- defaults -----------------------------------------------------------------------------

TEST(ConfigTest, MinimalConfigsGiveTheReleasedModel) {
  // save_pretrained may leave out values equal to the defaults: a bare model_type must
  // give exactly the released configuration.
  const ModelConfig image = parse_model_config(R"({"model_type": "sam3"})", "min.json");
  EXPECT_EQ(image.type, ModelType::kSam3Image);
  ASSERT_TRUE(image.detector.has_value());
  expect_same(*image.detector, released_detector());
  expect_same(*image.detector, *load_model_config(full("sam3_image")).detector);

  const ModelConfig tracker = parse_model_config(R"({"model_type": "sam3_tracker"})", "min.json");
  ASSERT_TRUE(tracker.tracker.has_value());
  expect_same(*tracker.tracker, *load_model_config(full("sam3_tracker")).tracker);

  const ModelConfig video = parse_model_config(R"({"model_type": "sam3_video"})", "min.json");
  const ModelConfig released = load_model_config(full("sam3_video"));
  ASSERT_TRUE(video.detector && video.tracker && video.video);
  EXPECT_EQ(video.tracker->video->num_maskmem, 7);
  expect_same(*video.detector, *released.detector);
  expect_same(*video.tracker, *released.tracker);
  expect_same(*video.video, *released.video);
}

TEST(ConfigTest, NullAndIntegralFloatValues) {
  // null means "use the default"; 1024.0 is the integer 1024.
  const ModelConfig c = parse_model_config(
      R"({"model_type": "sam3", "text_config": null,
          "vision_config": {"backbone_config": {"hidden_size": 1024.0, "window_size": null},
                            "fpn_hidden_size": 256}})",
      "t.json");
  EXPECT_EQ(c.detector->vision.backbone.hidden_size, 1024);
  EXPECT_EQ(c.detector->vision.backbone.window_size, 24);
  EXPECT_EQ(c.detector->text.vocab_size, 49408);
  // Unknown keys are ignored (transformers writes many).
  EXPECT_NO_THROW(parse_model_config(R"({"model_type": "sam3", "some_new_field": {"x": [1, "y"]}})", "t.json"));
}

// --- errors -------------------------------------------------------------------------------

TEST(ConfigTest, WrongTypeNamesTheFieldPath) {
  expect_corrupt(R"({"model_type": "sam3_video", "detector_config": {"vision_config": {"backbone_config": {"hidden_size": "1024"}}}})",
                 {"detector_config.vision_config.backbone_config.hidden_size", "must be an integer", "\"1024\""});
  expect_corrupt(R"({"model_type": "sam3", "text_config": {"layer_norm_eps": "small"}})",
                 {"text_config.layer_norm_eps", "must be a number"});
  expect_corrupt(R"({"model_type": "sam3_tracker", "mask_decoder_config": {"dynamic_multimask_via_stability": 1}})",
                 {"mask_decoder_config.dynamic_multimask_via_stability", "true or false"});
  expect_corrupt(R"({"model_type": "sam3", "detr_decoder_config": {"hidden_act": 3}})",
                 {"detr_decoder_config.hidden_act", "must be a string"});
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"backbone_config": {"global_attn_indexes": [7, "15"]}}})",
                 {"vision_config.backbone_config.global_attn_indexes", "list of integers"});
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"backbone_config": {"global_attn_indexes": 7}}})",
                 {"vision_config.backbone_config.global_attn_indexes", "list of integers"});
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"scale_factors": [4, "2"]}})",
                 {"vision_config.scale_factors", "list of numbers"});
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"backbone_feature_sizes": [[288, 288], [144]]}})",
                 {"vision_config.backbone_feature_sizes", "[h, w] pairs"});
  expect_corrupt(R"({"model_type": "sam3", "vision_config": [1]})", {"'vision_config' must be an object"});
  expect_corrupt(R"({"model_type": "sam3_video", "tracker_config": "none"})", {"'tracker_config' must be an object"});
  expect_corrupt(R"({"model_type": 3})", {"'model_type' must be a string"});
}

TEST(ConfigTest, IntegersOutOfRangeOrFractional) {
  for (const std::string v : {"2.5", "1e300", "-1e300", "9223372036854775808", "18446744073709551615", "true"}) {
    SCOPED_TRACE(v);
    expect_corrupt(R"({"model_type": "sam3", "text_config": {"vocab_size": )" + v + "}}",
                   {"text_config.vocab_size", "must be an integer"});
    expect_corrupt(R"({"model_type": "sam3", "vision_config": {"backbone_config": {"global_attn_indexes": [)" + v + "]}}}",
                   {"vision_config.backbone_config.global_attn_indexes", "list of integers"});
  }
}

TEST(ConfigTest, HeadsMustDivideTheWidth) {
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"backbone_config": {"hidden_size": 1000}}})",
                 {"'vision_config.backbone_config.hidden_size' (1000) is not divisible by "
                  "'vision_config.backbone_config.num_attention_heads' (16)"});
  expect_corrupt(R"({"model_type": "sam3_video", "detector_config": {"text_config": {"num_attention_heads": 7}}})",
                 {"detector_config.text_config.hidden_size", "detector_config.text_config.num_attention_heads", "(7)"});
  expect_corrupt(R"({"model_type": "sam3_tracker", "mask_decoder_config": {"num_attention_heads": 3}})",
                 {"mask_decoder_config.hidden_size", "not divisible", "mask_decoder_config.num_attention_heads"});
  expect_corrupt(R"({"model_type": "sam3", "detr_encoder_config": {"num_attention_heads": 0}})",
                 {"detr_encoder_config.num_attention_heads", "must be positive, got 0"});
  // ViT heads whose dimension is not a multiple of 4 (2-D RoPE).
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"backbone_config": {"hidden_size": 96, "num_attention_heads": 16}}})",
                 {"vision_config.backbone_config", "multiple of 4"});
}

TEST(ConfigTest, NonPositiveSizes) {
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"backbone_config": {"num_hidden_layers": 0}}})",
                 {"vision_config.backbone_config.num_hidden_layers", "must be positive, got 0"});
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"backbone_config": {"patch_size": -14}}})",
                 {"vision_config.backbone_config.patch_size", "must be positive, got -14"});
  expect_corrupt(R"({"model_type": "sam3", "text_config": {"vocab_size": 0}})",
                 {"text_config.vocab_size", "must be positive"});
  // Widths too: 0 is divisible by every head count but is not a width.
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"backbone_config": {"hidden_size": 0}}})",
                 {"vision_config.backbone_config.hidden_size", "must be positive, got 0"});
  expect_corrupt(R"({"model_type": "sam3", "text_config": {"hidden_size": -1024}})",
                 {"text_config.hidden_size", "must be positive"});
  expect_corrupt(R"({"model_type": "sam3_video", "tracker_config": {"num_maskmem": 0}})",
                 {"tracker_config.num_maskmem", "must be positive"});
  expect_corrupt(R"({"model_type": "sam3_video", "max_num_objects": -5})", {"'max_num_objects' must be positive"});
}

TEST(ConfigTest, InconsistentValues) {
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"backbone_config": {"global_attn_indexes": [7, 15, 23, 32]}}})",
                 {"vision_config.backbone_config", "global_attn_indexes entry 32 is not a layer index"});
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"backbone_config": {"global_attn_indexes": [-1]}}})",
                 {"global_attn_indexes entry -1"});
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"backbone_config": {"image_size": 1000}}})",
                 {"vision_config.backbone_config", "image_size must be a multiple of patch_size"});
  expect_corrupt(R"({"model_type": "sam3", "text_config": {"eos_token_id": 49408}})",
                 {"text_config", "inside the vocabulary"});
  expect_corrupt(R"({"model_type": "sam3", "detr_encoder_config": {"hidden_size": 512}})",
                 {"hidden sizes must be equal"});
  expect_corrupt(R"({"model_type": "sam3", "detr_decoder_config": {"hidden_act": "swish"}})",
                 {"detr_decoder_config", "relu or gelu"});
  expect_corrupt(R"({"model_type": "sam3", "vision_config": {"scale_factors": [4.0, 3.0, 1.0]}})",
                 {"vision_config", "scale_factors"});
  expect_corrupt(R"({"model_type": "sam3_tracker", "prompt_encoder_config": {"hidden_size": 128}})",
                 {"hidden sizes must be equal"});
  expect_corrupt(R"({"model_type": "sam3_video", "tracker_config": {"mask_downsampler_total_stride": 12}})",
                 {"tracker_config", "power of mask_downsampler_stride"});
  // Huge strides are checked without overflowing.
  expect_corrupt(R"({"model_type": "sam3_video", "tracker_config": {"mask_downsampler_stride": 3,
                     "mask_downsampler_total_stride": 9223372036854775807}})",
                 {"power of mask_downsampler_stride"});
  const ModelConfig ok = parse_model_config(
      R"({"model_type": "sam3_video", "tracker_config": {"mask_downsampler_stride": 4, "mask_downsampler_total_stride": 16}})",
      "t.json");
  EXPECT_EQ(ok.tracker->video->mask_downsampler_stride, 4);
  expect_corrupt(R"({"model_type": "sam3_video", "tracker_config": {"memory_attention_rope_feat_sizes": [72]}})",
                 {"tracker_config", "memory_attention_rope_feat_sizes must be [h, w]"});
}

TEST(ConfigTest, MalformedJson) {
  expect_corrupt(R"({"model_type": "sam3",)", {"not valid JSON"});
  expect_corrupt("", {"not valid JSON"});
  expect_corrupt("{\"model_type\": \"sam3\xff\"}", {"not valid JSON"});
  expect_corrupt(R"(["sam3"])", {"config is not a JSON object"});
  expect_corrupt("null", {"config is not a JSON object"});
}

TEST(ConfigTest, DeepNestingIsRejectedNotACrash) {
  const int depth = 100000;
  expect_corrupt(R"({"model_type": "sam3", "text_config": {"vocab_size": )" + std::string(depth, '[') +
                     std::string(depth, ']') + "}}",
                 {"nested more than"});
  // Ordinary nesting is fine.
  EXPECT_NO_THROW(parse_model_config(R"({"model_type": "sam3", "x": [[[[[[[[[[{}]]]]]]]]]]})", "t.json"));
}

TEST(ConfigTest, ModelTypeMissingOrUnknown) {
  expect_corrupt(R"({"vision_config": {}})", {"'model_type' is missing"});
  expect_corrupt(R"({"model_type": ""})", {"'model_type' is missing"});
  expect_corrupt(R"({"model_type": null})", {"'model_type' is missing"});
  const std::string msg = expect_error(ErrorCode::kUnsupported, [] {
    parse_model_config(R"({"model_type": "sam1"})", "t.json");
  });
  EXPECT_NE(msg.find("t.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown model_type 'sam1'"), std::string::npos) << msg;
  // Sub-config types are not top-level models.
  expect_error(ErrorCode::kUnsupported, [] { parse_model_config(R"({"model_type": "sam3_tracker_video"})", "t.json"); });
}

// A sam2_video config that relies on every default is SAM 2.1 tiny (Sam2VideoConfig's
// defaults): Hiera [1, 2, 7, 2], 1024 input, 64 x 64 RoPE grid, no limit on conditioning
// frames, ImageNet normalisation.
TEST(ConfigTest, Sam2VideoDefaultsAreSam21Tiny) {
  const ModelConfig c = parse_model_config(R"({"model_type": "sam2_video"})", "t.json");
  EXPECT_EQ(c.type, ModelType::kSam2Video);
  EXPECT_TRUE(c.is_sam2());
  EXPECT_FALSE(c.detector.has_value());
  ASSERT_TRUE(c.tracker.has_value() && c.tracker->hiera.has_value() && c.tracker->video.has_value());
  EXPECT_FALSE(c.tracker->vision.has_value());
  const HieraConfig& h = c.tracker->hiera->backbone;
  EXPECT_EQ(h.blocks_per_stage, (std::vector<int64_t>{1, 2, 7, 2}));
  EXPECT_EQ(h.embed_dim_per_stage, (std::vector<int64_t>{96, 192, 384, 768}));
  EXPECT_EQ(h.window_size_per_stage, (std::vector<int64_t>{8, 4, 14, 7}));
  EXPECT_EQ(h.global_attention_blocks, (std::vector<int64_t>{5, 7, 9}));
  EXPECT_EQ(c.tracker->hiera->backbone_channel_list, (std::vector<int64_t>{768, 384, 192, 96}));
  EXPECT_EQ(c.image_size(), 1024);
  EXPECT_EQ(c.tracker->prompt_encoder.image_size, 1024);
  EXPECT_EQ(c.tracker->prompt_encoder.patch_size, 16);
  EXPECT_EQ(c.tracker->video->max_cond_frame_num, -1);
  EXPECT_EQ(c.tracker->video->memory_attention_rope_feat_sizes, (std::vector<int64_t>{64, 64}));
  EXPECT_DOUBLE_EQ(c.image_mean[0], 0.485);
  EXPECT_DOUBLE_EQ(c.image_std[2], 0.225);
  const ModelConfig image = parse_model_config(R"({"model_type": "sam2"})", "t.json");
  EXPECT_EQ(image.type, ModelType::kSam2Image);
  EXPECT_FALSE(image.tracker->video.has_value());
}

TEST(ConfigTest, Sam2RejectsInconsistentHiera) {
  expect_corrupt(R"({"model_type": "sam2_video", "vision_config": {"backbone_config": {"blocks_per_stage": [1, 2]}}})",
                 {"one entry per stage"});
  expect_corrupt(R"({"model_type": "sam2", "vision_config": {"backbone_config": {"global_attention_blocks": [12]}}})",
                 {"global_attention_blocks entry 12"});
  expect_corrupt(R"({"model_type": "sam2", "vision_config": {"backbone_config": {"patch_stride": [4, 2]}}})",
                 {"square"});
  expect_corrupt(R"({"model_type": "sam2", "vision_config": {"backbone_channel_list": [96, 192, 384, 768]}})",
                 {"backbone_channel_list must be embed_dim_per_stage reversed"});
  expect_corrupt(R"({"model_type": "sam2", "vision_config": {"backbone_config": {"window_size_per_stage": [7, 4, 14, 7]}}})",
                 {"multiple of window_size_per_stage[0]"});
}

TEST(ConfigTest, MissingFileIsNotFound) {
  const std::string p =
      (std::filesystem::temp_directory_path() / "sam3rt_config_test_absent_dir" / "config.json").string();
  const std::string msg = expect_error(ErrorCode::kNotFound, [&] { load_model_config(p); });
  EXPECT_NE(msg.find(p), std::string::npos) << msg;
}

}  // namespace
}  // namespace sam3rt
