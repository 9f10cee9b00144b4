// The SAM 3 image detector end to end (transformers Sam3Model.forward, with Meta's
// semantics by default): image features once, text features per prompt, then geometry
// encoder, DETR encoder and decoder, scoring and segmentation head per prompt.
//
// A Trace, when given, collects intermediate tensors under the reference's module names
// ("vision_encoder.backbone.layers.3", "detr_decoder.presence_logits", ...), which is
// what `sam3rt verify` compares against the fixtures.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "models/modules.h"
#include "models/trace.h"

namespace sam3rt::models {

struct DetectorImageFeatures {
  std::vector<at::Tensor> fpn;  // detector neck levels [B, d, 4G, 4G], [B, d, 2G, 2G], [B, d, G, G]
  at::Tensor pos;               // [1, d, G, G] sine position of the G level
  at::Tensor vit;               // [B, D, G, G] backbone output (shared with the tracker)
};

struct DetectorPrompt {
  at::Tensor text;        // [B, L, d] projected text features
  at::Tensor text_valid;  // [B, L] bool
  at::Tensor boxes;       // [B, K, 4] normalised cxcywh; undefined or K = 0 for none
  at::Tensor box_labels;  // [B, K] int64: 1 positive, 0 negative, -10 padding
  // true (Meta): the geometry encoder always runs, giving the image-conditioned CLS
  // token even with no boxes. false (transformers): without boxes it is skipped.
  bool geometry_without_boxes = true;
};

struct DetectorOutput {
  at::Tensor pred_logits;      // [B, Q]
  at::Tensor pred_boxes;       // [B, Q, 4] normalised xyxy
  at::Tensor presence_logits;  // [B, 1]
  at::Tensor pred_masks;       // [B, Q, 4G, 4G] logits
  at::Tensor semantic_seg;     // [B, 1, 4G, 4G] logits
  at::Tensor decoder_reference_boxes;  // [L, B, Q, 4] cxcywh per decoder layer
};

// pixel_values [B, 3, S, S] -> backbone + detector neck.
DetectorImageFeatures encode_detector_image(const Modules& m, const at::Tensor& pixel_values,
                                            Trace* trace = nullptr);

// input_ids, attention_mask [B, L] -> [B, L, d].
at::Tensor encode_text(const Modules& m, const at::Tensor& input_ids, const at::Tensor& attention_mask,
                       Trace* trace = nullptr);

DetectorOutput detect(const Modules& m, const DetectorImageFeatures& image, const DetectorPrompt& prompt,
                      Trace* trace = nullptr);

}  // namespace sam3rt::models
