// Typed config.json parsing: the released facebook/sam3 configs of the three layouts, the
// tiny fixture configs, the defaults a sparse config falls back to, and malformed configs
// (each a sam3rt::Error naming the file and the field path).
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

// Runs fn, expecting a sam3rt::Error with `code`; returns its message.
std::string expect_error(ErrorCode code, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << error_code_name(e.code()) << ": " << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a sam3rt::Error: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no error, expected " << error_code_name(code);
  return {};
}

// Parses `json` as "test.json", expecting kCorruption with every needle in the message.
void expect_corrupt(const std::string& json, const std::vector<std::string>& needles) {
  SCOPED_TRACE(json.substr(0, 300));
  const std::string msg = expect_error(ErrorCode::kCorruption, [&] { parse_model_config(json, "test.json"); });
  EXPECT_EQ(msg.rfind("test.json: ", 0), 0u) << "message does not start with the file: " << msg;
  for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
}

// --- field-by-field comparison (used to check defaults against the released configs) ---

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
}

void expect_same(const VisionConfig& a, const VisionConfig& b) {
  expect_same(a.backbone, b.backbone);
  EXPECT_EQ(a.fpn_hidden_size, b.fpn_hidden_size);
  EXPECT_EQ(a.scale_factors, b.scale_factors);
  EXPECT_EQ(a.backbone_feature_sizes, b.backbone_feature_sizes);
  EXPECT_EQ(a.layer_norm_eps, b.layer_norm_eps);
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

void expect_same(const DetectorConfig& a, const DetectorConfig& b) {
  expect_same(a.vision, b.vision);
  EXPECT_EQ(a.text.vocab_size, b.text.vocab_size);
  EXPECT_EQ(a.text.hidden_size, b.text.hidden_size);
  EXPECT_EQ(a.text.intermediate_size, b.text.intermediate_size);
  EXPECT_EQ(a.text.projection_dim, b.text.projection_dim);
  EXPECT_EQ(a.text.num_hidden_layers, b.text.num_hidden_layers);
  EXPECT_EQ(a.text.num_attention_heads, b.text.num_attention_heads);
  EXPECT_EQ(a.text.max_position_embeddings, b.text.max_position_embeddings);
  EXPECT_EQ(a.text.layer_norm_eps, b.text.layer_norm_eps);
  EXPECT_EQ(a.text.bos_token_id, b.text.bos_token_id);
  EXPECT_EQ(a.text.eos_token_id, b.text.eos_token_id);
  EXPECT_EQ(a.text.pad_token_id, b.text.pad_token_id);
  expect_same(a.geometry_encoder, b.geometry_encoder);
  expect_same(a.detr_encoder, b.detr_encoder);
  expect_same(a.detr_decoder, b.detr_decoder);
  EXPECT_EQ(a.mask_decoder.hidden_size, b.mask_decoder.hidden_size);
  EXPECT_EQ(a.mask_decoder.num_upsampling_stages, b.mask_decoder.num_upsampling_stages);
  EXPECT_EQ(a.mask_decoder.num_attention_heads, b.mask_decoder.num_attention_heads);
  EXPECT_EQ(a.mask_decoder.layer_norm_eps, b.mask_decoder.layer_norm_eps);
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
  expect_same(a.vision, b.vision);
  EXPECT_EQ(a.image_size, b.image_size);
  EXPECT_EQ(a.prompt_encoder.hidden_size, b.prompt_encoder.hidden_size);
  EXPECT_EQ(a.prompt_encoder.image_size, b.prompt_encoder.image_size);
  EXPECT_EQ(a.prompt_encoder.patch_size, b.prompt_encoder.patch_size);
  EXPECT_EQ(a.prompt_encoder.mask_input_channels, b.prompt_encoder.mask_input_channels);
  EXPECT_EQ(a.prompt_encoder.num_point_embeddings, b.prompt_encoder.num_point_embeddings);
  EXPECT_EQ(a.prompt_encoder.layer_norm_eps, b.prompt_encoder.layer_norm_eps);
  EXPECT_EQ(a.prompt_encoder.scale, b.prompt_encoder.scale);
  const auto &m = a.mask_decoder, &n = b.mask_decoder;
  EXPECT_EQ(m.hidden_size, n.hidden_size);
  EXPECT_EQ(m.mlp_dim, n.mlp_dim);
  EXPECT_EQ(m.num_hidden_layers, n.num_hidden_layers);
  EXPECT_EQ(m.num_attention_heads, n.num_attention_heads);
  EXPECT_EQ(m.attention_downsample_rate, n.attention_downsample_rate);
  EXPECT_EQ(m.num_multimask_outputs, n.num_multimask_outputs);
  EXPECT_EQ(m.iou_head_depth, n.iou_head_depth);
  EXPECT_EQ(m.iou_head_hidden_dim, n.iou_head_hidden_dim);
  EXPECT_EQ(m.dynamic_multimask_via_stability, n.dynamic_multimask_via_stability);
  EXPECT_EQ(m.dynamic_multimask_stability_delta, n.dynamic_multimask_stability_delta);
  EXPECT_EQ(m.dynamic_multimask_stability_thresh, n.dynamic_multimask_stability_thresh);
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

// The released ViT + FPN, as the full configs spell them out.
void expect_released_vision(const VisionConfig& v) {
  EXPECT_EQ(v.backbone.hidden_size, 1024);
  EXPECT_EQ(v.backbone.intermediate_size, 4736);
  EXPECT_EQ(v.backbone.num_hidden_layers, 32);
  EXPECT_EQ(v.backbone.num_attention_heads, 16);
  EXPECT_EQ(v.backbone.head_dim(), 64);
  EXPECT_EQ(v.backbone.num_channels, 3);
  EXPECT_EQ(v.backbone.image_size, 1008);
  EXPECT_EQ(v.backbone.patch_size, 14);
  EXPECT_EQ(v.backbone.grid(), 72);
  EXPECT_EQ(v.backbone.pretrain_image_size, 336);
  EXPECT_EQ(v.backbone.pretrain_grid(), 24);
  EXPECT_EQ(v.backbone.window_size, 24);
  EXPECT_EQ(v.backbone.global_attn_indexes, (Sizes{7, 15, 23, 31}));
  EXPECT_EQ(v.backbone.rope_theta, 10000.0);
  EXPECT_EQ(v.backbone.layer_norm_eps, 1e-6);
  EXPECT_EQ(v.fpn_hidden_size, 256);
  EXPECT_EQ(v.scale_factors, (std::vector<double>{4.0, 2.0, 1.0, 0.5}));
  EXPECT_EQ(v.backbone_feature_sizes, (std::vector<Sizes>{{288, 288}, {144, 144}, {72, 72}}));
}

// --- the released (full) configs -----------------------------------------------------------

TEST(ConfigTest, FullImageConfig) {
  const ModelConfig c = load_model_config(full("sam3_image"));
  EXPECT_EQ(c.type, ModelType::kSam3Image);
  EXPECT_STREQ(model_type_name(c.type), "sam3");
  ASSERT_TRUE(c.detector.has_value());
  EXPECT_FALSE(c.tracker.has_value());
  EXPECT_FALSE(c.video.has_value());
  const DetectorConfig& d = *c.detector;
  expect_released_vision(d.vision);
  EXPECT_EQ(d.text.vocab_size, 49408);
  EXPECT_EQ(d.text.hidden_size, 1024);
  EXPECT_EQ(d.text.intermediate_size, 4096);
  EXPECT_EQ(d.text.projection_dim, 512);
  EXPECT_EQ(d.text.num_hidden_layers, 24);
  EXPECT_EQ(d.text.num_attention_heads, 16);
  EXPECT_EQ(d.text.max_position_embeddings, 32);
  EXPECT_EQ(d.text.layer_norm_eps, 1e-5);
  EXPECT_EQ(d.text.bos_token_id, 49406);
  EXPECT_EQ(d.text.eos_token_id, 49407);
  EXPECT_EQ(d.geometry_encoder.num_layers, 3);
  EXPECT_EQ(d.geometry_encoder.hidden_size, 256);
  EXPECT_EQ(d.geometry_encoder.roi_size, 7);
  EXPECT_EQ(d.detr_encoder.num_layers, 6);
  EXPECT_EQ(d.detr_encoder.num_attention_heads, 8);
  EXPECT_EQ(d.detr_encoder.intermediate_size, 2048);
  EXPECT_EQ(d.detr_encoder.hidden_act, "relu");
  EXPECT_EQ(d.detr_decoder.num_layers, 6);
  EXPECT_EQ(d.detr_decoder.num_queries, 200);
  EXPECT_EQ(d.mask_decoder.hidden_size, 256);
  EXPECT_EQ(d.mask_decoder.num_upsampling_stages, 3);
  EXPECT_EQ(d.mask_decoder.num_attention_heads, 8);
}

TEST(ConfigTest, FullTrackerConfig) {
  const ModelConfig c = load_model_config(full("sam3_tracker"));
  EXPECT_EQ(c.type, ModelType::kSam3Tracker);
  EXPECT_STREQ(model_type_name(c.type), "sam3_tracker");
  EXPECT_FALSE(c.detector.has_value());
  ASSERT_TRUE(c.tracker.has_value());
  EXPECT_FALSE(c.video.has_value());
  const TrackerConfig& t = *c.tracker;
  expect_released_vision(t.vision);
  EXPECT_EQ(t.image_size, 1008);
  EXPECT_EQ(t.prompt_encoder.hidden_size, 256);
  EXPECT_EQ(t.prompt_encoder.image_size, 1008);
  EXPECT_EQ(t.prompt_encoder.patch_size, 14);
  EXPECT_EQ(t.prompt_encoder.mask_input_channels, 16);
  EXPECT_EQ(t.prompt_encoder.num_point_embeddings, 4);
  EXPECT_EQ(t.mask_decoder.hidden_size, 256);
  EXPECT_EQ(t.mask_decoder.mlp_dim, 2048);
  EXPECT_EQ(t.mask_decoder.num_hidden_layers, 2);
  EXPECT_EQ(t.mask_decoder.num_attention_heads, 8);
  EXPECT_EQ(t.mask_decoder.attention_downsample_rate, 2);
  EXPECT_EQ(t.mask_decoder.num_multimask_outputs, 3);
  EXPECT_EQ(t.mask_decoder.iou_head_depth, 3);
  EXPECT_EQ(t.mask_decoder.iou_head_hidden_dim, 256);
  EXPECT_TRUE(t.mask_decoder.dynamic_multimask_via_stability);
  EXPECT_EQ(t.mask_decoder.dynamic_multimask_stability_delta, 0.05);
  EXPECT_EQ(t.mask_decoder.dynamic_multimask_stability_thresh, 0.98);
  EXPECT_FALSE(t.video.has_value());
}

TEST(ConfigTest, FullVideoConfig) {
  const ModelConfig c = load_model_config(full("sam3_video"));
  EXPECT_EQ(c.type, ModelType::kSam3Video);
  EXPECT_STREQ(model_type_name(c.type), "sam3_video");
  ASSERT_TRUE(c.detector.has_value());
  ASSERT_TRUE(c.tracker.has_value());
  ASSERT_TRUE(c.video.has_value());
  expect_released_vision(c.detector->vision);
  EXPECT_EQ(c.detector->text.vocab_size, 49408);
  EXPECT_EQ(c.detector->detr_decoder.num_queries, 200);
  // The detector and its image-only config agree.
  expect_same(*c.detector, *load_model_config(full("sam3_image")).detector);

  const TrackerConfig& t = *c.tracker;
  expect_released_vision(t.vision);
  EXPECT_EQ(t.image_size, 1008);
  ASSERT_TRUE(t.video.has_value());
  const TrackerVideoConfig& v = *t.video;
  EXPECT_EQ(v.num_maskmem, 7);
  EXPECT_EQ(v.sigmoid_scale_for_mem_enc, 20.0);
  EXPECT_EQ(v.sigmoid_bias_for_mem_enc, -10.0);
  EXPECT_EQ(v.max_object_pointers_in_encoder, 16);
  EXPECT_EQ(v.max_cond_frame_num, 4);
  EXPECT_EQ(v.memory_attention_hidden_size, 256);
  EXPECT_EQ(v.memory_attention_num_layers, 4);
  EXPECT_EQ(v.memory_attention_num_attention_heads, 1);
  EXPECT_EQ(v.memory_attention_feed_forward_hidden_size, 2048);
  EXPECT_EQ(v.memory_attention_rope_feat_sizes, (Sizes{72, 72}));
  EXPECT_EQ(v.memory_encoder_output_channels, 64);
  EXPECT_EQ(v.mask_downsampler_stride, 2);
  EXPECT_EQ(v.mask_downsampler_total_stride, 16);
  EXPECT_EQ(v.memory_fuser_num_layers, 2);
  EXPECT_EQ(v.memory_fuser_intermediate_dim, 1024);
  EXPECT_EQ(v.memory_fuser_kernel_size, 7);
  EXPECT_EQ(v.memory_fuser_padding, 3);
  // The tracker's prompt encoder and mask decoder equal the sam3_tracker config's.
  auto tracker_only = *load_model_config(full("sam3_tracker")).tracker;
  tracker_only.video = t.video;
  expect_same(t, tracker_only);

  const VideoPipelineConfig& p = *c.video;
  EXPECT_EQ(p.low_res_mask_size, 288);
  EXPECT_EQ(p.score_threshold_detection, 0.5);
  EXPECT_EQ(p.det_nms_thresh, 0.1);
  EXPECT_EQ(p.assoc_iou_thresh, 0.1);
  EXPECT_EQ(p.trk_assoc_iou_thresh, 0.5);
  EXPECT_EQ(p.new_det_thresh, 0.7);
  EXPECT_TRUE(p.recondition_on_trk_masks);
  EXPECT_EQ(p.hotstart_delay, 15);
  EXPECT_EQ(p.hotstart_unmatch_thresh, 8);
  EXPECT_EQ(p.hotstart_dup_thresh, 8);
  EXPECT_EQ(p.init_trk_keep_alive, 30);
  EXPECT_EQ(p.max_trk_keep_alive, 30);
  EXPECT_EQ(p.min_trk_keep_alive, -1);
  EXPECT_EQ(p.suppress_overlapping_based_on_recent_occlusion_threshold, 0.7);
  EXPECT_FALSE(p.decrease_trk_keep_alive_for_empty_masklets);
  EXPECT_EQ(p.fill_hole_area, 16);
  EXPECT_EQ(p.max_num_objects, 10000);
  EXPECT_EQ(p.recondition_every_nth_frame, 16);
  EXPECT_EQ(p.high_conf_thresh, 0.8);
  EXPECT_EQ(p.high_iou_thresh, 0.8);
}

// --- the tiny fixture configs ----------------------------------------------------------------

void expect_tiny_vit(const VitConfig& b) {
  EXPECT_EQ(b.hidden_size, 32);
  EXPECT_EQ(b.intermediate_size, 64);
  EXPECT_EQ(b.num_hidden_layers, 4);
  EXPECT_EQ(b.num_attention_heads, 2);
  EXPECT_EQ(b.head_dim(), 16);
  EXPECT_EQ(b.image_size, 224);
  EXPECT_EQ(b.patch_size, 14);
  EXPECT_EQ(b.grid(), 16);
  EXPECT_EQ(b.pretrain_image_size, 112);
  EXPECT_EQ(b.pretrain_grid(), 8);
  EXPECT_EQ(b.window_size, 8);
  EXPECT_EQ(b.global_attn_indexes, (Sizes{1, 3}));
  EXPECT_EQ(b.rope_theta, 10000.0);
}

TEST(ConfigTest, TinyImageConfig) {
  const ModelConfig c = load_model_config(tiny("sam3_image"));
  EXPECT_EQ(c.type, ModelType::kSam3Image);
  ASSERT_TRUE(c.detector.has_value());
  EXPECT_FALSE(c.tracker.has_value());
  const DetectorConfig& d = *c.detector;
  expect_tiny_vit(d.vision.backbone);
  EXPECT_EQ(d.vision.fpn_hidden_size, 32);
  EXPECT_EQ(d.vision.backbone_feature_sizes, (std::vector<Sizes>{{64, 64}, {32, 32}, {16, 16}}));
  EXPECT_EQ(d.text.vocab_size, 100);
  EXPECT_EQ(d.text.hidden_size, 32);
  EXPECT_EQ(d.text.intermediate_size, 64);
  EXPECT_EQ(d.text.projection_dim, 16);
  EXPECT_EQ(d.text.num_hidden_layers, 2);
  EXPECT_EQ(d.text.num_attention_heads, 2);
  EXPECT_EQ(d.text.max_position_embeddings, 32);
  EXPECT_EQ(d.text.bos_token_id, 98);
  EXPECT_EQ(d.text.eos_token_id, 99);
  EXPECT_EQ(d.text.pad_token_id, 99);
  for (const auto* t : {&d.geometry_encoder, &d.detr_encoder, &d.detr_decoder}) {
    EXPECT_EQ(t->hidden_size, 32);
    EXPECT_EQ(t->num_layers, 2);
    EXPECT_EQ(t->num_attention_heads, 2);
    EXPECT_EQ(t->intermediate_size, 64);
  }
  EXPECT_EQ(d.geometry_encoder.roi_size, 7);
  EXPECT_EQ(d.detr_decoder.num_queries, 8);
  EXPECT_EQ(d.mask_decoder.hidden_size, 32);
  EXPECT_EQ(d.mask_decoder.num_attention_heads, 2);
  EXPECT_EQ(d.mask_decoder.num_upsampling_stages, 3);
}

TEST(ConfigTest, TinyTrackerConfig) {
  const ModelConfig c = load_model_config(tiny("sam3_tracker"));
  EXPECT_EQ(c.type, ModelType::kSam3Tracker);
  ASSERT_TRUE(c.tracker.has_value());
  EXPECT_FALSE(c.detector.has_value());
  const TrackerConfig& t = *c.tracker;
  expect_tiny_vit(t.vision.backbone);
  EXPECT_EQ(t.vision.fpn_hidden_size, 32);
  EXPECT_EQ(t.image_size, 224);
  EXPECT_EQ(t.prompt_encoder.hidden_size, 32);
  EXPECT_EQ(t.prompt_encoder.image_size, 224);
  EXPECT_EQ(t.prompt_encoder.mask_input_channels, 4);
  EXPECT_EQ(t.prompt_encoder.scale, 1.0);
  EXPECT_EQ(t.mask_decoder.hidden_size, 32);
  EXPECT_EQ(t.mask_decoder.mlp_dim, 64);
  EXPECT_EQ(t.mask_decoder.num_hidden_layers, 2);
  EXPECT_EQ(t.mask_decoder.num_attention_heads, 2);
  EXPECT_EQ(t.mask_decoder.iou_head_hidden_dim, 32);
  EXPECT_FALSE(t.video.has_value());
}

TEST(ConfigTest, TinyVideoConfig) {
  const ModelConfig c = load_model_config(tiny("sam3_video"));
  EXPECT_EQ(c.type, ModelType::kSam3Video);
  ASSERT_TRUE(c.detector.has_value());
  ASSERT_TRUE(c.tracker.has_value());
  ASSERT_TRUE(c.video.has_value());
  const DetectorConfig& d = *c.detector;
  expect_tiny_vit(d.vision.backbone);
  EXPECT_EQ(d.vision.fpn_hidden_size, 64);
  EXPECT_EQ(d.detr_encoder.hidden_size, 64);
  EXPECT_EQ(d.detr_encoder.intermediate_size, 128);
  EXPECT_EQ(d.detr_decoder.num_queries, 8);
  EXPECT_EQ(d.text.hidden_size, 32);
  EXPECT_EQ(d.text.vocab_size, 100);
  // The tracker shares the detector's vision config (one ViT in the checkpoint).
  const TrackerConfig& t = *c.tracker;
  expect_same(t.vision, d.vision);
  EXPECT_EQ(t.image_size, 224);
  EXPECT_EQ(t.prompt_encoder.hidden_size, 64);
  EXPECT_EQ(t.mask_decoder.hidden_size, 64);
  EXPECT_EQ(t.mask_decoder.mlp_dim, 128);
  ASSERT_TRUE(t.video.has_value());
  EXPECT_EQ(t.video->num_maskmem, 3);
  EXPECT_EQ(t.video->max_cond_frame_num, 2);
  EXPECT_EQ(t.video->max_object_pointers_in_encoder, 4);
  EXPECT_EQ(t.video->memory_attention_hidden_size, 64);
  EXPECT_EQ(t.video->memory_attention_num_layers, 2);
  EXPECT_EQ(t.video->memory_attention_feed_forward_hidden_size, 128);
  EXPECT_EQ(t.video->memory_attention_rope_feat_sizes, (Sizes{16, 16}));
  EXPECT_EQ(t.video->memory_fuser_embed_dim, 64);
  EXPECT_EQ(t.video->memory_fuser_intermediate_dim, 128);
  const VideoPipelineConfig& p = *c.video;
  EXPECT_EQ(p.low_res_mask_size, 64);
  EXPECT_EQ(p.score_threshold_detection, 0.202819);
  EXPECT_EQ(p.new_det_thresh, 0.202819);
  EXPECT_EQ(p.high_conf_thresh, 0.202819);
  EXPECT_EQ(p.det_nms_thresh, 0.0);
  EXPECT_EQ(p.hotstart_delay, 2);
  EXPECT_EQ(p.hotstart_unmatch_thresh, 2);
  EXPECT_EQ(p.hotstart_dup_thresh, 2);
  EXPECT_EQ(p.init_trk_keep_alive, 3);
  EXPECT_EQ(p.max_trk_keep_alive, 3);
  EXPECT_EQ(p.min_trk_keep_alive, -1);
  EXPECT_EQ(p.fill_hole_area, 0);
  EXPECT_EQ(p.recondition_every_nth_frame, 3);
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
  expect_released_vision(image.detector->vision);
  EXPECT_EQ(image.detector->text.vocab_size, 49408);
  EXPECT_EQ(image.detector->detr_decoder.num_queries, 200);
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
    parse_model_config(R"({"model_type": "sam2_video"})", "t.json");
  });
  EXPECT_NE(msg.find("t.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown model_type 'sam2_video'"), std::string::npos) << msg;
  // Sub-config types are not top-level models.
  expect_error(ErrorCode::kUnsupported, [] { parse_model_config(R"({"model_type": "sam3_tracker_video"})", "t.json"); });
}

TEST(ConfigTest, MissingFileIsNotFound) {
  const std::string p =
      (std::filesystem::temp_directory_path() / "sam3rt_config_test_absent_dir" / "config.json").string();
  const std::string msg = expect_error(ErrorCode::kNotFound, [&] { load_model_config(p); });
  EXPECT_NE(msg.find(p), std::string::npos) << msg;
}

}  // namespace
}  // namespace sam3rt
