// Dot-product scoring parity against the tiny sam3_image fixture: per-layer logits of
// all five cases from the recorded decoder queries and prompt, and the final pred_logits.
#include <ATen/ops/cat.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "models/modules.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

const std::vector<std::string> kCases = {"c0_hf_text_only", "c1_text_boxes", "c2_batch2_padded_boxes",
                                         "c3_text_padbox", "c4_batch2_text_padbox"};

// Text mask, followed by the geometry mask where the geometry encoder ran.
at::Tensor prompt_valid(const testing::Fixture& fx, const std::string& c) {
  at::Tensor text = fx.input(c + ".attention_mask").ne(0);
  const std::string geo = c + ".geometry_encoder.attention_mask";
  return fx.has_intermediate(geo) ? at::cat({text, fx.intermediate(geo).to(at::kBool)}, 1) : text;
}

TEST(DotProductScoring, MatchesReference) {
  testing::Fixture fx("sam3-tiny-seed0/sam3_image");
  const testing::BoundModel b = testing::bind_model(fx.dir());
  const models::DotProductScoring& scoring = b.modules->detector->scoring;
  testing::WorstRelL2 w("dot_product_scoring");

  for (const std::string& c : kCases) {
    SCOPED_TRACE(c);
    at::Tensor hidden = fx.intermediate(c + ".detr_decoder.intermediate_hidden_states");  // [L, B, Q, d]
    at::Tensor prompt = fx.intermediate(c + ".detr_encoder.text_features");
    at::Tensor logits = scoring.forward(hidden, prompt, prompt_valid(fx, c));
    w.check(logits, fx.intermediate(c + ".dot_product_scoring"), c + ".dot_product_scoring");
    // One layer at a time ([B, Q, d]) gives the same; the last is pred_logits.
    at::Tensor last = scoring.forward(hidden[hidden.size(0) - 1], prompt, prompt_valid(fx, c));
    w.check(last.squeeze(-1), fx.output(c + ".pred_logits"), c + ".pred_logits");
  }
}

TEST(DotProductScoring, MaskSelectsPooledTokens) {
  // Padding tokens must not change the logits: appending masked garbage tokens keeps them.
  testing::Fixture fx("sam3-tiny-seed0/sam3_image");
  const testing::BoundModel b = testing::bind_model(fx.dir());
  const std::string c = "c0_hf_text_only";
  at::Tensor hidden = fx.intermediate(c + ".detr_decoder.intermediate_hidden_states");
  at::Tensor prompt = fx.intermediate(c + ".detr_encoder.text_features");
  at::Tensor valid = prompt_valid(fx, c);
  at::Tensor padded = at::cat({prompt, prompt.slice(1, 0, 3).mul(7.0)}, 1);
  at::Tensor padded_valid = at::cat({valid, valid.slice(1, 0, 3).logical_not()}, 1);
  const models::DotProductScoring& scoring = b.modules->detector->scoring;
  testing::WorstRelL2("dot_product_scoring, masked padding")
      .check(scoring.forward(hidden, padded, padded_valid), fx.intermediate(c + ".dot_product_scoring"), "padded");
  EXPECT_THROW(scoring.forward(hidden, prompt, valid.slice(1, 1)), Error);
}

}  // namespace
}  // namespace sam3rt
