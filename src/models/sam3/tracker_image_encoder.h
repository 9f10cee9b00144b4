// SAM 3's image encoder under the tracker: the ViT (stored once, shared with the
// detector) and the tracker's own FPN neck (transformers Sam3TrackerModel's
// vision_encoder); the tracker's frame encoder for sam3_tracker / sam3_video checkpoints.
//
// Weight prefix of the neck: tracker_neck (sam3_video), tracker_model.tracker_neck
// (sam3_tracker). The ViT is bound by the caller.
// Thread-safety: immutable; encode() may run concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "models/sam3/fpn_neck.h"
#include "models/sam3/vision_backbone.h"
#include "models/tracker/frame_encoder.h"

namespace sam3rt::models {

class Sam3TrackerImageEncoder final : public FrameEncoder {
 public:
  // `vit` must outlive the encoder.
  Sam3TrackerImageEncoder(const VisionBackbone& vit, const VisionConfig& config, const io::WeightScope& neck);

  // pixel_values [B, 3, S, S] -> [B, d, 4G, 4G], [B, d, 2G, 2G], [B, d, G, G]. With
  // `trace`: the ViT ("vision_encoder.backbone.*") and every neck level with its sine
  // position ("vision_encoder.neck.0.<i>", ".1.<i>", the unused 0.5x level included).
  std::vector<at::Tensor> encode(const at::Tensor& pixel_values, Trace* trace = nullptr) const override;
  // The same from a ViT output [B, D, G, G] (e.g. the detector's, computed once).
  std::vector<at::Tensor> encode_vit(const at::Tensor& vit, Trace* trace = nullptr) const;
  bool image_level_is_last() const override { return scale_factors_ == 3; }

  const VisionBackbone& vit() const { return vit_; }
  const FpnNeck& neck() const { return neck_; }

 private:
  const VisionBackbone& vit_;
  FpnNeck neck_;
  size_t scale_factors_ = 0;
};

// The ViT's trace under the reference's names ("vision_encoder.backbone.embeddings",
// ".layer_norm", ".layers.<i>", ".last_hidden_state" of vit [B, D, G, G]).
void record_vit_trace(Trace* trace, const VitTrace& vt, const at::Tensor& vit);
// Every level of an FPN neck with its sine position ("vision_encoder.neck.0.<i>", ".1.<i>").
void record_neck_trace(Trace* trace, const std::vector<at::Tensor>& levels);

}  // namespace sam3rt::models
