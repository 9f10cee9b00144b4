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
#include "nn/rope.h"

namespace sam3rt::models {

struct VitLayer {
  nn::LayerNorm layer_norm1, layer_norm2;
  nn::Attention attention;
  nn::Mlp mlp;  // fc1, fc2 (GELU)
  bool global = false;
};

// What forward() computed on the way (parity tests and debugging).
struct VitTrace {
  at::Tensor embeddings;            // [B, G*G, D] patch embeddings + tiled position table
  at::Tensor ln_pre;                // [B, G, G, D] after the pre-norm
  std::vector<at::Tensor> layers;   // one [B, G, G, D] per block
};

class VisionBackbone {
 public:
  VisionBackbone(const VitConfig& config, const io::WeightScope& s);

  const VitConfig& config() const { return config_; }

  // pixel_values [B, C, S, S] (S = image_size) -> [B, D, G, G], contiguous. With `trace`,
  // the intermediate results are stored there as well (copies; it costs memory).
  at::Tensor forward(const at::Tensor& pixel_values, VitTrace* trace = nullptr) const;

 private:
  // One block on x [B, G, G, D], updated in place; the tables are on x's device.
  void run_layer(const VitLayer& layer, at::Tensor& x, const nn::RopeTable& window_rope,
                 const nn::RopeTable& global_rope) const;


  VitConfig config_;
  at::Tensor patch_weight_;     // [D, 3, p, p]
  at::Tensor position_table_;   // [1, P*P, D]  (P = pretrain grid)
  nn::LayerNorm layer_norm_;    // ln_pre
  std::vector<VitLayer> layers_;
  nn::RopeTable window_rope_;  // window x window tokens, positions 0..window-1
  nn::RopeTable global_rope_;  // G x G tokens, positions scaled by window / G
};

}  // namespace sam3rt::models
