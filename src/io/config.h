// Typed views of a Hugging Face SAM 3 / SAM 2 config.json, for the layouts sam3rt loads:
//   "sam3"         image detector (Sam3Model)
//   "sam3_tracker" interactive tracker on single images (Sam3TrackerModel)
//   "sam3_video"   detector + video tracker (Sam3VideoModel): the published facebook/sam3
//   "sam2"         SAM 2 / 2.1 on single images (Sam2Model): Hiera + the tracker
//   "sam2_video"   SAM 2 / 2.1 video tracker (Sam2VideoModel): the published
//                  facebook/sam2.1-hiera-* and facebook/sam2-hiera-*
//
// Every field has the default of the matching transformers config class (= the released
// model), because save_pretrained may leave out values equal to the defaults. A value of
// the wrong JSON type, a non-positive size, heads that do not divide a width and similar
// inconsistencies throw Error(kCorruption) naming the file and the field path.
//
// Kept free of ATen so the fuzzer can build it alone.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sam3rt {

// The ViT trunk ("sam3_vit_model"), §2.
struct VitConfig {
  int64_t hidden_size = 1024;
  int64_t intermediate_size = 4736;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 16;
  int64_t num_channels = 3;
  int64_t image_size = 1008;
  int64_t patch_size = 14;
  int64_t pretrain_image_size = 336;
  int64_t window_size = 24;
  std::vector<int64_t> global_attn_indexes = {7, 15, 23, 31};
  double rope_theta = 10000.0;
  double layer_norm_eps = 1e-6;

  int64_t grid() const { return image_size / patch_size; }           // 72
  int64_t pretrain_grid() const { return pretrain_image_size / patch_size; }  // 24
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

// ViT + FPN neck ("sam3_vision_model"), §2-§3.
struct VisionConfig {
  VitConfig backbone;
  int64_t fpn_hidden_size = 256;
  std::vector<double> scale_factors = {4.0, 2.0, 1.0, 0.5};
  std::vector<std::vector<int64_t>> backbone_feature_sizes = {{288, 288}, {144, 144}, {72, 72}};
  double layer_norm_eps = 1e-6;
};

// CLIP text transformer ("clip_text_model"), §4.
struct TextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 1024;
  int64_t intermediate_size = 4096;
  int64_t projection_dim = 512;
  int64_t num_hidden_layers = 24;
  int64_t num_attention_heads = 16;
  int64_t max_position_embeddings = 32;
  double layer_norm_eps = 1e-5;
  int64_t bos_token_id = 49406;
  int64_t eos_token_id = 49407;
  int64_t pad_token_id = 1;
  std::string hidden_act = "gelu";  // "gelu" (exact) or "quick_gelu"
};

// A stack of pre- or post-norm transformer layers of the detector (geometry encoder,
// DETR encoder, DETR decoder), §5-§7.
struct DetectorTransformerConfig {
  int64_t hidden_size = 256;
  int64_t num_layers = 6;
  int64_t num_attention_heads = 8;
  int64_t intermediate_size = 2048;
  double layer_norm_eps = 1e-6;
  std::string hidden_act = "relu";
  int64_t roi_size = 7;       // geometry encoder only
  int64_t num_queries = 200;  // DETR decoder only
};

// Segmentation head ("sam3_mask_decoder"), §8.
struct SegmentationHeadConfig {
  int64_t hidden_size = 256;
  int64_t num_upsampling_stages = 3;
  int64_t num_attention_heads = 8;
  double layer_norm_eps = 1e-6;
};

// SAM 2's Hiera trunk ("sam2_hiera_det_model"). Pairs are [h, w]. Stage s has
// blocks_per_stage[s] blocks of width embed_dim_per_stage[s]; the first block of stages
// 1..num_query_pool_stages pools its queries by query_stride. Blocks whose overall index is
// in global_attention_blocks attend globally, the others in windows of the stage's size.
struct HieraConfig {
  int64_t hidden_size = 96;  // patch embedding width (= embed_dim_per_stage[0])
  int64_t num_attention_heads = 1;
  int64_t num_channels = 3;
  std::vector<int64_t> image_size = {1024, 1024};
  std::vector<int64_t> patch_kernel_size = {7, 7};
  std::vector<int64_t> patch_stride = {4, 4};
  std::vector<int64_t> patch_padding = {3, 3};
  std::vector<int64_t> query_stride = {2, 2};
  std::vector<int64_t> window_positional_embedding_background_size = {7, 7};
  int64_t num_query_pool_stages = 3;
  std::vector<int64_t> blocks_per_stage = {1, 2, 7, 2};
  std::vector<int64_t> embed_dim_per_stage = {96, 192, 384, 768};
  std::vector<int64_t> num_attention_heads_per_stage = {1, 2, 4, 8};
  std::vector<int64_t> window_size_per_stage = {8, 4, 14, 7};
  std::vector<int64_t> global_attention_blocks = {5, 7, 9};
  double mlp_ratio = 4.0;
  std::string hidden_act = "gelu";
  double layer_norm_eps = 1e-6;
};

// Hiera + FPN neck ("sam2_vision_model"). The neck's convs[k] takes the stage outputs in
// reverse order (backbone_channel_list[k] = width of stage S-1-k); stage levels listed in
// fpn_top_down_levels (except the last) add the coarser level upsampled x2; the finest
// num_feature_levels levels are kept.
struct HieraVisionConfig {
  HieraConfig backbone;
  std::vector<int64_t> backbone_channel_list = {768, 384, 192, 96};
  std::vector<std::vector<int64_t>> backbone_feature_sizes = {{256, 256}, {128, 128}, {64, 64}};
  int64_t fpn_hidden_size = 256;
  int64_t fpn_kernel_size = 1;
  int64_t fpn_stride = 1;
  int64_t fpn_padding = 0;
  std::vector<int64_t> fpn_top_down_levels = {2, 3};
  int64_t num_feature_levels = 3;
  double layer_norm_eps = 1e-6;
};

struct DetectorConfig {
  VisionConfig vision;
  TextConfig text;
  DetectorTransformerConfig geometry_encoder{256, 3, 8, 2048, 1e-6, "relu", 7, 200};
  DetectorTransformerConfig detr_encoder{256, 6, 8, 2048, 1e-6, "relu", 7, 200};
  DetectorTransformerConfig detr_decoder{256, 6, 8, 2048, 1e-6, "relu", 7, 200};
  SegmentationHeadConfig mask_decoder;
};

// SAM-style prompt encoder, §10.2.
struct PromptEncoderConfig {
  int64_t hidden_size = 256;
  int64_t image_size = 1008;
  int64_t patch_size = 14;
  int64_t mask_input_channels = 16;
  int64_t num_point_embeddings = 4;
  double layer_norm_eps = 1e-6;
  double scale = 1.0;
};

// SAM-style mask decoder of the tracker, §10.3.
struct TrackerMaskDecoderConfig {
  int64_t hidden_size = 256;
  int64_t mlp_dim = 2048;
  int64_t num_hidden_layers = 2;
  int64_t num_attention_heads = 8;
  int64_t attention_downsample_rate = 2;
  int64_t num_multimask_outputs = 3;
  int64_t iou_head_depth = 3;
  int64_t iou_head_hidden_dim = 256;
  bool dynamic_multimask_via_stability = true;
  double dynamic_multimask_stability_delta = 0.05;
  double dynamic_multimask_stability_thresh = 0.98;
};

// Memory parts of the video tracker ("sam3_tracker_video"), §10.4-§10.7.
struct TrackerVideoConfig {
  int64_t num_maskmem = 7;
  double sigmoid_scale_for_mem_enc = 20.0;
  double sigmoid_bias_for_mem_enc = -10.0;
  bool enable_occlusion_spatial_embedding = true;
  bool multimask_output_in_sam = true;
  int64_t multimask_min_pt_num = 0;
  int64_t multimask_max_pt_num = 1;
  bool multimask_output_for_tracking = true;
  int64_t max_object_pointers_in_encoder = 16;
  int64_t max_cond_frame_num = 4;  // -1: every conditioning frame (SAM 2)
  bool enable_temporal_pos_encoding_for_object_pointers = true;
  int64_t memory_attention_hidden_size = 256;
  int64_t memory_attention_num_layers = 4;
  int64_t memory_attention_num_attention_heads = 1;
  int64_t memory_attention_downsample_rate = 1;
  int64_t memory_attention_feed_forward_hidden_size = 2048;
  double memory_attention_rope_theta = 10000.0;
  std::vector<int64_t> memory_attention_rope_feat_sizes = {72, 72};
  int64_t memory_encoder_hidden_size = 256;
  int64_t memory_encoder_output_channels = 64;
  int64_t mask_downsampler_embed_dim = 256;
  int64_t mask_downsampler_kernel_size = 3;
  int64_t mask_downsampler_stride = 2;
  int64_t mask_downsampler_padding = 1;
  int64_t mask_downsampler_total_stride = 16;
  int64_t memory_fuser_num_layers = 2;
  int64_t memory_fuser_embed_dim = 256;
  int64_t memory_fuser_intermediate_dim = 1024;
  int64_t memory_fuser_kernel_size = 7;
  int64_t memory_fuser_padding = 3;
};

// The SAM-style tracker. Its image encoder is one of two families; the tracker modules
// themselves (models/tracker/) read neither.
struct TrackerConfig {
  std::optional<VisionConfig> vision;       // SAM 3: the ViT + the tracker's FPN neck
  std::optional<HieraVisionConfig> hiera;   // SAM 2: Hiera + its FPN neck
  int64_t image_size = 1008;
  PromptEncoderConfig prompt_encoder;
  TrackerMaskDecoderConfig mask_decoder;
  std::optional<TrackerVideoConfig> video;  // present for sam3_tracker_video
};

// Text-prompted video pipeline thresholds (Sam3VideoConfig), §10.8.
struct VideoPipelineConfig {
  int64_t low_res_mask_size = 288;
  double score_threshold_detection = 0.5;
  double det_nms_thresh = 0.1;
  double assoc_iou_thresh = 0.1;
  double trk_assoc_iou_thresh = 0.5;
  double new_det_thresh = 0.7;
  bool recondition_on_trk_masks = true;
  int64_t hotstart_delay = 15;
  int64_t hotstart_unmatch_thresh = 8;
  int64_t hotstart_dup_thresh = 8;
  bool suppress_unmatched_only_within_hotstart = true;
  int64_t init_trk_keep_alive = 30;
  int64_t max_trk_keep_alive = 30;
  int64_t min_trk_keep_alive = -1;
  double suppress_overlapping_based_on_recent_occlusion_threshold = 0.7;
  bool decrease_trk_keep_alive_for_empty_masklets = false;
  int64_t fill_hole_area = 16;
  int64_t max_num_objects = 10000;
  int64_t recondition_every_nth_frame = 16;
  double high_conf_thresh = 0.8;
  double high_iou_thresh = 0.8;
};

enum class ModelType { kSam3Image, kSam3Tracker, kSam3Video, kSam2Image, kSam2Video };

// "sam3", "sam3_tracker", "sam3_video", "sam2", "sam2_video".
const char* model_type_name(ModelType type);

struct ModelConfig {
  ModelType type = ModelType::kSam3Video;
  std::optional<DetectorConfig> detector;    // sam3, sam3_video
  std::optional<TrackerConfig> tracker;      // sam3_tracker, sam3_video, sam2, sam2_video
  std::optional<VideoPipelineConfig> video;  // sam3_video
  // The image processor's normalisation, fixed per family (not part of config.json):
  // SAM 3 0.5 / 0.5, SAM 2 ImageNet's mean / std.
  std::array<double, 3> image_mean{0.5, 0.5, 0.5};
  std::array<double, 3> image_std{0.5, 0.5, 0.5};

  bool is_sam2() const { return type == ModelType::kSam2Image || type == ModelType::kSam2Video; }
  // The side of the square model input: the detector's, else the tracker's.
  int64_t image_size() const {
    return detector ? detector->vision.backbone.image_size : tracker ? tracker->image_size : 0;
  }
};

// Parses config.json text. `file` names the source in messages.
// Throws Error(kCorruption) for malformed JSON, a wrong type or an invalid value, and
// Error(kUnsupported) for an unknown model_type.
ModelConfig parse_model_config(const std::string& json_text, const std::string& file);

// Reads and parses a config.json file. Throws Error(kNotFound/kIo) if it cannot be read.
ModelConfig load_model_config(const std::string& path);

}  // namespace sam3rt
