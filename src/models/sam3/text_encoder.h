// SAM 3's text encoder: a causal CLIP text transformer followed by the 1024 -> d
// "resizer" (architecture §4; transformers CLIPTextModelWithProjection + Sam3Model's
// text_projection).
//
// Weight prefix: detector_model.text_encoder.text_model (transformer),
//                detector_model.text_projection (resizer). CLIP's own projection
//                detector_model.text_encoder.text_projection.weight is unused by SAM 3 but
//                present in every checkpoint: it is bound and ignored.
// Input: token ids [B, L] (int64) and attention mask [B, L] (1 = token); output
// text features [B, L, d] for every token (no pooling).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "nn/attention.h"
#include "nn/layers.h"

namespace sam3rt::models {

struct TextLayer {
  nn::LayerNorm layer_norm1, layer_norm2;
  nn::Attention self_attn;  // q/k/v_proj, out_proj
  nn::Mlp mlp;              // fc1, fc2
};

class TextEncoder {
 public:
  // `s` is the detector scope (prefix "detector_model"); d = detector width.
  TextEncoder(const TextConfig& config, int64_t d, const io::WeightScope& s);

  const TextConfig& config() const { return config_; }

  // Last hidden state after the final LayerNorm [B, L, D_text].
  at::Tensor encode(const at::Tensor& input_ids, const at::Tensor& attention_mask) const;
  // CLIP's pooled, projected embedding (hidden state at the first end token through
  // CLIP's own projection) [B, projection_dim]. SAM 3 does not use it; parity checks do.
  at::Tensor clip_text_embeds(const at::Tensor& hidden, const at::Tensor& input_ids) const;
  // The resizer alone: [B, L, D_text] -> [B, L, d].
  at::Tensor project(const at::Tensor& hidden) const { return text_projection_.forward(hidden); }
  // encode() followed by the resizer: [B, L, d].
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask) const;

 private:
  TextConfig config_;
  at::Tensor token_embedding_;     // [V, D]
  at::Tensor position_embedding_;  // [L, D]
  std::vector<TextLayer> layers_;
  nn::LayerNorm final_layer_norm_;
  at::Tensor clip_projection_;     // [projection_dim, D], unused
  nn::Linear text_projection_;     // D -> d
};

}  // namespace sam3rt::models
