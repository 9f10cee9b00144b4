// Every module of a SAM 3 or SAM 2 checkpoint, bound from one WeightStore according to
// the checkpoint layout of the config's model type:
//
//   layout        image encoder of the tracker                                   detector          tracker
//   sam3          -  (ViT: detector_model.vision_encoder.backbone)               detector_model.*  -
//   sam3_tracker  tracker_model.detector_model.vision_encoder.backbone + tracker_model.tracker_neck
//                                                                                -                 tracker_model.*
//   sam3_video    detector_model.vision_encoder.backbone + tracker_neck          detector_model.*  tracker_model.*
//   sam2          vision_encoder.backbone (Hiera) + vision_encoder.neck          -                 * (no memory)
//   sam2_video    vision_encoder.backbone (Hiera) + vision_encoder.neck          -                 *
//
// SAM 3's ViT is stored once and shared by the detector and the tracker. The tracker
// (models/tracker/) is one and the same for both families; only its frame encoder differs.
// Thread-safety: immutable after bind_modules(); safe to share.
#pragma once

#include <memory>
#include <optional>

#include "io/config.h"
#include "io/weights.h"
#include "models/sam3/detr_decoder.h"
#include "models/sam3/detr_encoder.h"
#include "models/sam3/dot_product_scoring.h"
#include "models/sam3/fpn_neck.h"
#include "models/sam3/geometry_encoder.h"
#include "models/sam3/segmentation_head.h"
#include "models/sam2/image_encoder.h"
#include "models/sam3/text_encoder.h"
#include "models/sam3/tracker_image_encoder.h"
#include "models/sam3/vision_backbone.h"
#include "models/tracker/frame_encoder.h"
#include "models/tracker/mask_decoder.h"
#include "models/tracker/memory_attention.h"
#include "models/tracker/memory_encoder.h"
#include "models/tracker/prompt_encoder.h"

namespace sam3rt::models {

struct DetectorModules {
  FpnNeck neck;
  TextEncoder text_encoder;
  GeometryEncoder geometry_encoder;
  DetrEncoder detr_encoder;
  DetrDecoder detr_decoder;
  DotProductScoring scoring;
  SegmentationHead segmentation_head;

  DetectorModules(const DetectorConfig& c, const io::WeightScope& s);
};

// The memory parts of the video tracker (absent from the sam3_tracker layout).
struct TrackerMemoryModules {
  MemoryAttention memory_attention;
  MemoryEncoder memory_encoder;
  at::Tensor no_memory_positional_encoding;        // [1, 1, d], unused at inference
  at::Tensor memory_temporal_positional_encoding;  // [num_maskmem, 1, 1, mem_dim]
  at::Tensor no_object_pointer;                    // [1, d]
  nn::Conv2d mask_downsample;                      // 1 -> 1, kernel 4, stride 4
  nn::Mlp object_pointer_proj;                     // d -> d -> d -> d
  std::optional<nn::Linear> temporal_positional_encoding_projection;  // d -> mem_dim
  at::Tensor occlusion_spatial_embedding;          // [1, mem_dim] or undefined

  TrackerMemoryModules(const TrackerConfig& c, const io::WeightScope& s);
};

// The tracker's own modules (shared by SAM 3 and SAM 2); its image encoder is apart.
struct TrackerModules {
  TrackerConfig config;
  PromptEncoder prompt_encoder;
  TrackerMaskDecoder mask_decoder;
  FourierPositionalEncoding shared_image_embedding;
  at::Tensor no_memory_embedding;  // [1, 1, d]
  std::optional<TrackerMemoryModules> memory;

  // `s` is the tracker scope ("tracker_model" for SAM 3, the root for SAM 2).
  TrackerModules(const TrackerConfig& c, const io::WeightScope& s);
};

struct Modules {
  ModelConfig config;
  std::optional<VisionBackbone> vision_backbone;                // SAM 3's ViT
  std::optional<DetectorModules> detector;                      // SAM 3
  std::optional<TrackerModules> tracker;
  std::optional<Sam3TrackerImageEncoder> sam3_tracker_encoder;  // SAM 3: ViT + tracker neck
  std::optional<Sam2ImageEncoder> sam2_image_encoder;           // SAM 2: Hiera + neck
  const FrameEncoder* frame_encoder = nullptr;                  // one of the two, with a tracker

  Modules() = default;
  Modules(const Modules&) = delete;  // the encoders refer to members
  Modules& operator=(const Modules&) = delete;
};

// Binds every module the config's layout has. Problems are recorded in `store`; call
// store.finish() afterwards to report them (all at once).
std::unique_ptr<Modules> bind_modules(const ModelConfig& config, io::WeightStore& store);

// Binds in declare-only mode and returns the expected key list (name, shape, dtype),
// without allocating any weight memory.
std::vector<io::ExpectedTensor> expected_tensors(const ModelConfig& config);

}  // namespace sam3rt::models
