#include "models/sam3/dot_product_scoring.h"

#include <ATen/ops/matmul.h>

#include <cmath>

#include "nn/attention.h"
#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {
constexpr double kLogitClamp = 12.0;
}  // namespace

DotProductScoring::DotProductScoring(const DetectorTransformerConfig& c, const io::WeightScope& scope)
    : d_(c.hidden_size) {
  const int64_t d = c.hidden_size;
  const io::WeightScope s = scope.fp32_products();  // scores: float32 products whatever the precision
  text_mlp_ = nn::Mlp(s.sub("text_mlp"), {d, c.intermediate_size, d}, nn::Activation::kRelu, nn::Mlp::Naming::kLayerN);
  text_mlp_out_norm_ = nn::LayerNorm(s.sub("text_mlp_out_norm"), d, 1e-5);
  text_proj_ = nn::Linear(s.sub("text_proj"), d, d);
  query_proj_ = nn::Linear(s.sub("query_proj"), d, d);
}

at::Tensor DotProductScoring::forward(const at::Tensor& hidden, const at::Tensor& prompt,
                                      const at::Tensor& prompt_valid) const {
  SAM3RT_CHECK(prompt.dim() == 3 && prompt.size(2) == d_, kInvalidArgument, "scoring: prompt must be [B, P, ", d_,
               "], got ", prompt.sizes());
  const int64_t B = prompt.size(0);
  SAM3RT_CHECK((hidden.dim() == 3 || hidden.dim() == 4) && hidden.size(-1) == d_ && hidden.size(-3) == B,
               kInvalidArgument, "scoring: queries must be [(L,) ", B, ", Q, ", d_, "], got ", hidden.sizes());
  nn::prompt_mask(prompt, prompt_valid, B, d_, "scoring");  // checks the pair

  // Prompt tokens through the residual MLP and its norm, then mean over valid tokens.
  at::Tensor t = text_mlp_out_norm_.forward(text_mlp_.forward(prompt).add(prompt));  // [B, P, d]
  at::Tensor pooled;
  if (prompt_valid.defined()) {
    at::Tensor valid = prompt_valid.to(t.scalar_type()).unsqueeze(-1);  // [B, P, 1]
    pooled = t.mul(valid).sum(1).div(valid.sum(1).clamp_min(1.0));     // [B, d]
  } else {
    pooled = t.mean(1);
  }
  at::Tensor text = text_proj_.forward(pooled).unsqueeze(-1);  // [B, d, 1]
  if (hidden.dim() == 4) text = text.unsqueeze(0);             // [1, B, d, 1]
  at::Tensor queries = query_proj_.forward(hidden);            // [(L,) B, Q, d]
  const double scale = 1.0 / std::sqrt(static_cast<double>(d_));
  return at::matmul(queries, text).mul(scale).clamp(-kLogitClamp, kLogitClamp);  // [(L,) B, Q, 1]
}

}  // namespace sam3rt::models
