#include "models/modules.h"

namespace sam3rt::models {

DetectorModules::DetectorModules(const DetectorConfig& c, const io::WeightScope& s)
    : neck(c.vision, s.sub("vision_encoder.neck")),
      text_encoder(c.text, c.detr_encoder.hidden_size, s),
      geometry_encoder(c.geometry_encoder, s.sub("geometry_encoder")),
      detr_encoder(c.detr_encoder, s.sub("detr_encoder")),
      detr_decoder(c.detr_decoder, s.sub("detr_decoder")),
      scoring(c.detr_decoder, s.sub("dot_product_scoring")),
      segmentation_head(c.mask_decoder, s.sub("mask_decoder")) {}

TrackerMemoryModules::TrackerMemoryModules(const TrackerConfig& c, const io::WeightScope& s)
    : memory_attention(*c.video, s.sub("memory_attention")), memory_encoder(*c.video, s.sub("memory_encoder")) {
  const TrackerVideoConfig& v = *c.video;
  const int64_t d = c.mask_decoder.hidden_size;
  const int64_t mem = v.memory_encoder_output_channels;
  no_memory_positional_encoding = s.take("no_memory_positional_encoding", {1, 1, d});
  memory_temporal_positional_encoding = s.take("memory_temporal_positional_encoding", {v.num_maskmem, 1, 1, mem});
  no_object_pointer = s.take("no_object_pointer", {1, d});
  mask_downsample = nn::Conv2d(s.sub("mask_downsample"), 1, 1, 4, 4);
  object_pointer_proj = nn::Mlp(s.sub("object_pointer_proj"), {d, d, d, d}, nn::Activation::kRelu,
                                nn::Mlp::Naming::kProjInOut);
  if (v.enable_temporal_pos_encoding_for_object_pointers) {
    temporal_positional_encoding_projection.emplace(s.sub("temporal_positional_encoding_projection_layer"), d, mem);
  }
  if (v.enable_occlusion_spatial_embedding) {
    occlusion_spatial_embedding = s.take("occlusion_spatial_embedding_parameter", {1, mem});
  }
}

TrackerModules::TrackerModules(const TrackerConfig& c, const io::WeightScope& s)
    : config(c),
      prompt_encoder(c.prompt_encoder, s.sub("prompt_encoder")),
      mask_decoder(c.mask_decoder, s.sub("mask_decoder")),
      shared_image_embedding(s.sub("shared_image_embedding"), c.prompt_encoder.hidden_size, c.prompt_encoder.scale) {
  no_memory_embedding = s.take("no_memory_embedding", {1, 1, c.mask_decoder.hidden_size});
  if (c.video) memory.emplace(c, s);
}

std::unique_ptr<Modules> bind_modules(const ModelConfig& config, io::WeightStore& store) {
  auto m = std::make_unique<Modules>();
  m->config = config;
  switch (config.type) {
    case ModelType::kSam3Image: {
      io::WeightScope det = store.scope("detector_model");
      m->vision_backbone.emplace(config.detector->vision.backbone, det.sub("vision_encoder.backbone"));
      m->detector.emplace(*config.detector, det);
      break;
    }
    case ModelType::kSam3Tracker: {
      io::WeightScope trk = store.scope("tracker_model");
      m->vision_backbone.emplace(config.tracker->vision->backbone, trk.sub("detector_model.vision_encoder.backbone"));
      m->sam3_tracker_encoder.emplace(*m->vision_backbone, *config.tracker->vision, trk.sub("tracker_neck"));
      m->tracker.emplace(*config.tracker, trk);
      break;
    }
    case ModelType::kSam3Video: {
      io::WeightScope det = store.scope("detector_model");
      m->vision_backbone.emplace(config.detector->vision.backbone, det.sub("vision_encoder.backbone"));
      m->detector.emplace(*config.detector, det);
      m->sam3_tracker_encoder.emplace(*m->vision_backbone, *config.tracker->vision, store.scope("tracker_neck"));
      m->tracker.emplace(*config.tracker, store.scope("tracker_model"));
      break;
    }
    case ModelType::kSam2Image:
    case ModelType::kSam2Video: {
      io::WeightScope root = store.scope("");
      m->sam2_image_encoder.emplace(*config.tracker->hiera, root.sub("vision_encoder"));
      m->tracker.emplace(*config.tracker, root);
      break;
    }
  }
  if (m->sam3_tracker_encoder) m->frame_encoder = &*m->sam3_tracker_encoder;
  if (m->sam2_image_encoder) m->frame_encoder = &*m->sam2_image_encoder;
  return m;
}

std::vector<io::ExpectedTensor> expected_tensors(const ModelConfig& config) {
  io::WeightStore store = io::WeightStore::declare_only();
  bind_modules(config, store);
  return store.expected();
}

}  // namespace sam3rt::models
