// SAM 3's vision trunk: a ViTDet-style ViT with 2-D RoPE, windowed and global blocks
// (architecture §2; transformers Sam3ViTModel).
//
// Weight prefix: detector_model.vision_encoder.backbone (sam3, sam3_video);
//                tracker_model.detector_model.vision_encoder.backbone (sam3_tracker).
// Input: pixel_values [B, 3, S, S] (S = image_size); output [B, D, G, G] (G = S / patch).
// Thread-safety: immutable; forward() may run concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "nn/attention.h"
#include "nn/layers.h"

namespace sam3rt::models {

struct VitLayer {
  nn::LayerNorm layer_norm1, layer_norm2;
  nn::Attention attention;
  nn::Mlp mlp;  // fc1, fc2 (GELU)
  bool global = false;
};

class VisionBackbone {
 public:
  VisionBackbone(const VitConfig& config, const io::WeightScope& s);

  const VitConfig& config() const { return config_; }

  // pixel_values [B, 3, S, S] -> [B, D, G, G].
  at::Tensor forward(const at::Tensor& pixel_values) const;

 private:
  VitConfig config_;
  at::Tensor patch_weight_;     // [D, 3, p, p]
  at::Tensor position_table_;   // [1, P*P, D]  (P = pretrain grid)
  nn::LayerNorm layer_norm_;    // ln_pre
  std::vector<VitLayer> layers_;
};

}  // namespace sam3rt::models
