#include "models/sam3/dot_product_scoring.h"

#include "sam3rt/error.h"

namespace sam3rt::models {

DotProductScoring::DotProductScoring(const DetectorTransformerConfig& c, const io::WeightScope& s) : d_(c.hidden_size) {
  const int64_t d = c.hidden_size;
  text_mlp_ = nn::Mlp(s.sub("text_mlp"), {d, c.intermediate_size, d}, nn::Activation::kRelu, nn::Mlp::Naming::kLayerN);
  text_mlp_out_norm_ = nn::LayerNorm(s.sub("text_mlp_out_norm"), d, 1e-5);
  text_proj_ = nn::Linear(s.sub("text_proj"), d, d);
  query_proj_ = nn::Linear(s.sub("query_proj"), d, d);
}

at::Tensor DotProductScoring::forward(const at::Tensor& hidden, const at::Tensor& prompt,
                                      const at::Tensor& prompt_valid) const {
  SAM3RT_FAIL(kUnsupported, "DotProductScoring::forward is not implemented yet");
}

}  // namespace sam3rt::models
