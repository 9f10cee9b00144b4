// Geometry (exemplar box) prompt encoder of the detector (architecture §5; transformers
// Sam3GeometryEncoder). Encodes labelled boxes from the 72x72 detector feature with
// RoIAlign pooling, a sine position of the box centre and direct coordinates, appends
// the CLS token, and refines the sequence with pre-norm transformer layers that
// cross-attend to the image.
//
// Weight prefix: detector_model.geometry_encoder.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "nn/attention.h"
#include "nn/layers.h"

namespace sam3rt::models {

// One pre-norm layer shared in shape by the geometry encoder and the DETR encoder:
// self-attention, cross-attention, FFN, each behind its own LayerNorm.
struct PreNormFusionLayer {
  nn::LayerNorm layer_norm1, layer_norm2, layer_norm3;
  nn::Attention self_attn, cross_attn;
  nn::Mlp mlp;  // fc1, fc2

  PreNormFusionLayer() = default;
  PreNormFusionLayer(const DetectorTransformerConfig& c, const io::WeightScope& s);
};

struct GeometryPrompt {
  at::Tensor features;  // [B, K+1, d]
  at::Tensor mask;      // [B, K+1] bool, true = valid
};

class GeometryEncoder {
 public:
  GeometryEncoder(const DetectorTransformerConfig& config, const io::WeightScope& s);

  // boxes [B, K, 4] normalised cxcywh, labels [B, K] int64 (1 positive, 0 negative),
  // valid [B, K] bool; image [B, d, G, G] (detector level at scale 1) and its position
  // encoding [B or 1, d, G, G]. K may be 0 (CLS token only).
  GeometryPrompt forward(const at::Tensor& boxes, const at::Tensor& labels, const at::Tensor& valid,
                         const at::Tensor& image, const at::Tensor& image_pos) const;

 private:
  DetectorTransformerConfig config_;
  at::Tensor label_embed_;  // [2, d]
  at::Tensor cls_embed_;    // [1, d]
  nn::Linear boxes_direct_project_;   // 4 -> d
  nn::Conv2d boxes_pool_project_;     // d -> d, kernel roi_size
  nn::Linear boxes_pos_enc_project_;  // d + 2 -> d
  nn::LayerNorm vision_layer_norm_;
  nn::Linear final_proj_;
  nn::LayerNorm prompt_layer_norm_;
  std::vector<PreNormFusionLayer> layers_;
  nn::LayerNorm output_layer_norm_;
};

}  // namespace sam3rt::models
