#include "models/sam3/detr_encoder.h"

#include "nn/attention.h"
#include "sam3rt/error.h"

namespace sam3rt::models {

DetrEncoder::DetrEncoder(const DetectorTransformerConfig& c, const io::WeightScope& s) : config_(c) {
  for (int64_t i = 0; i < c.num_layers; ++i) layers_.emplace_back(c, s.sub("layers", i));
}

at::Tensor DetrEncoder::forward(const at::Tensor& image, const at::Tensor& pos, const at::Tensor& prompt,
                                const at::Tensor& prompt_valid, std::vector<at::Tensor>* layer_outputs) const {
  const int64_t d = config_.hidden_size;
  SAM3RT_CHECK(image.dim() == 3 && image.size(2) == d, kInvalidArgument, "DETR encoder: image tokens must be [B, HW, ",
               d, "], got ", image.sizes());
  SAM3RT_CHECK(pos.dim() == 3 && pos.size(1) == image.size(1) && pos.size(2) == d &&
                   (pos.size(0) == 1 || pos.size(0) == image.size(0)),
               kInvalidArgument, "DETR encoder: position ", pos.sizes(), " does not match image tokens ", image.sizes());
  const nn::AttentionMask prompt_mask = nn::prompt_mask(prompt, prompt_valid, image.size(0), d, "DETR encoder");

  at::Tensor x = image;  // [B, HW, d]
  for (const PreNormFusionLayer& layer : layers_) {
    // Self-attention: position on queries and keys, not on values.
    at::Tensor h = layer.layer_norm1.forward(x);
    at::Tensor hp = h.add(pos);
    x = x.add(layer.self_attn.forward(hp, hp, h));
    // Cross-attention to the prompt (no position terms).
    h = layer.layer_norm2.forward(x);
    x = x.add(layer.cross_attn.forward(h, prompt, prompt, prompt_mask));
    // FFN.
    x = x.add(layer.mlp.forward(layer.layer_norm3.forward(x)));
    if (layer_outputs) layer_outputs->push_back(x);
  }
  return x;
}

}  // namespace sam3rt::models
