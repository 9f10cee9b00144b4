#include "models/sam3/tracker_image_encoder.h"

#include <string>

#include "nn/position_encoding.h"

namespace sam3rt::models {

Sam3TrackerImageEncoder::Sam3TrackerImageEncoder(const VisionBackbone& vit, const VisionConfig& c,
                                                 const io::WeightScope& neck)
    : vit_(vit), neck_(c, neck), scale_factors_(c.scale_factors.size()) {}

std::vector<at::Tensor> Sam3TrackerImageEncoder::encode(const at::Tensor& pixel_values, Trace* trace) const {
  VitTrace vt;
  const at::Tensor vit = vit_.forward(pixel_values, trace ? &vt : nullptr);  // [B, D, G, G]
  if (trace) record_vit_trace(trace, vt, vit);
  return encode_vit(vit, trace);
}

std::vector<at::Tensor> Sam3TrackerImageEncoder::encode_vit(const at::Tensor& vit, Trace* trace) const {
  if (trace) record_neck_trace(trace, neck_.forward(vit, /*all_levels=*/true));
  return neck_.forward(vit);
}

void record_vit_trace(Trace* trace, const VitTrace& vt, const at::Tensor& vit) {
  record(trace, "vision_encoder.backbone.embeddings", vt.embeddings);
  record(trace, "vision_encoder.backbone.layer_norm", vt.ln_pre);
  for (size_t i = 0; i < vt.layers.size(); ++i) {
    record(trace, "vision_encoder.backbone.layers." + std::to_string(i), vt.layers[i]);
  }
  record(trace, "vision_encoder.backbone.last_hidden_state", vit.flatten(2).transpose(1, 2));  // [B, G*G, D]
}

void record_neck_trace(Trace* trace, const std::vector<at::Tensor>& levels) {
  for (size_t i = 0; i < levels.size(); ++i) {
    const at::Tensor& l = levels[i];
    record(trace, "vision_encoder.neck.0." + std::to_string(i), l);
    record(trace, "vision_encoder.neck.1." + std::to_string(i),
           nn::sine_position_grid(l.size(2), l.size(3), l.size(1), l.options()).expand({l.size(0), -1, -1, -1}));
  }
}

}  // namespace sam3rt::models
