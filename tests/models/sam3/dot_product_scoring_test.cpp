// Dot-product scoring parity against the tiny sam3_image fixture: per-layer logits of
// all five cases from the recorded decoder queries and prompt, and the final pred_logits.
#include <ATen/ops/cat.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "models/modules.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"
#include "testing/image_cases.h"

namespace sam3rt {
namespace {

TEST(DotProductScoring, MatchesReference) {
  const testing::Fixture& fx = testing::image_fixture().fx;
  const testing::BoundModel& b = testing::image_fixture().bound;
  const models::DotProductScoring& scoring = b.modules->detector->scoring;
  testing::WorstRelL2 w("dot_product_scoring");

  for (const std::string& c : testing::kImageCases) {
    SCOPED_TRACE(c);
    at::Tensor hidden = fx.intermediate(c + ".detr_decoder.intermediate_hidden_states");  // [L, B, Q, d]
    at::Tensor prompt = fx.intermediate(c + ".detr_encoder.text_features");
    at::Tensor logits = scoring.forward(hidden, prompt, testing::prompt_valid(fx, c));
    w.check(logits, fx.intermediate(c + ".dot_product_scoring"), c + ".dot_product_scoring");
    // One layer at a time ([B, Q, d]) gives the same; the last is pred_logits.
    at::Tensor last = scoring.forward(hidden[hidden.size(0) - 1], prompt, testing::prompt_valid(fx, c));
    w.check(last.squeeze(-1), fx.output(c + ".pred_logits"), c + ".pred_logits");
  }
}

TEST(DotProductScoring, MaskSelectsPooledTokens) {
  // Padding tokens must not change the logits: appending masked garbage tokens keeps them.
  const testing::Fixture& fx = testing::image_fixture().fx;
  const testing::BoundModel& b = testing::image_fixture().bound;
  const std::string c = "c0_hf_text_only";
  at::Tensor hidden = fx.intermediate(c + ".detr_decoder.intermediate_hidden_states");
  at::Tensor prompt = fx.intermediate(c + ".detr_encoder.text_features");
  at::Tensor valid = testing::prompt_valid(fx, c);
  at::Tensor padded = at::cat({prompt, prompt.slice(1, 0, 3).mul(7.0)}, 1);
  at::Tensor padded_valid = at::cat({valid, valid.slice(1, 0, 3).logical_not()}, 1);
  const models::DotProductScoring& scoring = b.modules->detector->scoring;
  testing::WorstRelL2("dot_product_scoring, masked padding")
      .check(scoring.forward(hidden, padded, padded_valid), fx.intermediate(c + ".dot_product_scoring"), "padded");
  EXPECT_THROW(scoring.forward(hidden, prompt, valid.slice(1, 1)), Error);
}

}  // namespace
}  // namespace sam3rt
