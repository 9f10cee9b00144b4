// Dot-product scoring of decoder queries against the pooled prompt (architecture §7,
// "Scoring"; transformers Sam3DotProductScoring).
//
// Weight prefix: detector_model.dot_product_scoring.
#pragma once

#include <ATen/core/Tensor.h>

#include "io/config.h"
#include "io/weights.h"
#include "nn/layers.h"

namespace sam3rt::models {

class DotProductScoring {
 public:
  DotProductScoring(const DetectorTransformerConfig& decoder_config, const io::WeightScope& s);

  // hidden [L, B, Q, d] (or [B, Q, d]) normalised decoder queries, prompt [B, P, d] (the
  // encoder's prompt: text, then geometry tokens), prompt_valid [B, P] bool (true = valid;
  // undefined = all valid) -> logits [L, B, Q, 1] (same leading dims as hidden): the
  // query . pooled-prompt dot product over sqrt(d), clamped to +-12.
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& prompt, const at::Tensor& prompt_valid) const;

 private:
  nn::Mlp text_mlp_;  // layer1, layer2
  nn::LayerNorm text_mlp_out_norm_;
  nn::Linear text_proj_, query_proj_;
  int64_t d_ = 0;
};

}  // namespace sam3rt::models
