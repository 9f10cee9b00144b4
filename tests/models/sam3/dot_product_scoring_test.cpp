// Dot-product scoring parity against the tiny sam3_image fixture: per-layer logits of
// all five cases from the recorded decoder queries and prompt, and the final pred_logits.
#include <ATen/ops/cat.h>
#include <gtest/gtest.h>

#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "io/config.h"
#include "io/safetensors.h"
#include "io/weights.h"
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

void expect_close(const std::string& name, const at::Tensor& ours, const at::Tensor& ref) {
  SCOPED_TRACE(name);
  SAM3RT_EXPECT_CLOSE(ours, ref, testing::kParityRelL2);
  std::ostringstream v;
  v << std::scientific << std::setprecision(3) << testing::rel_l2(ours, ref);
  ::testing::Test::RecordProperty(name, v.str());
}

// Binds the fixture's modules; the store outlives them.
struct Bound {
  io::WeightStore store;
  std::unique_ptr<models::Sam3Modules> modules;
  explicit Bound(const testing::Fixture& fx) : store(io::SafetensorsFile::open(fx.checkpoint_path())) {
    modules = models::bind_modules(load_model_config(fx.config_path()), store);
    store.finish(fx.checkpoint_path());
  }
};

TEST(DotProductScoring, MatchesReference) {
  testing::Fixture fx("sam3-tiny-seed0/sam3_image");
  Bound b(fx);
  const models::DotProductScoring& scoring = b.modules->detector->scoring;

  for (const std::string& c : kCases) {
    SCOPED_TRACE(c);
    at::Tensor hidden = fx.intermediate(c + ".detr_decoder.intermediate_hidden_states");  // [L, B, Q, d]
    at::Tensor prompt = fx.intermediate(c + ".detr_encoder.text_features");
    at::Tensor logits = scoring.forward(hidden, prompt, prompt_valid(fx, c));
    expect_close(c + ".dot_product_scoring", logits, fx.intermediate(c + ".dot_product_scoring"));
    // One layer at a time ([B, Q, d]) gives the same; the last is pred_logits.
    at::Tensor last = scoring.forward(hidden[hidden.size(0) - 1], prompt, prompt_valid(fx, c));
    expect_close(c + ".pred_logits", last.squeeze(-1), fx.output(c + ".pred_logits"));
  }
}

TEST(DotProductScoring, MaskSelectsPooledTokens) {
  // Padding tokens must not change the logits: appending masked garbage tokens keeps them.
  testing::Fixture fx("sam3-tiny-seed0/sam3_image");
  Bound b(fx);
  const std::string c = "c0_hf_text_only";
  at::Tensor hidden = fx.intermediate(c + ".detr_decoder.intermediate_hidden_states");
  at::Tensor prompt = fx.intermediate(c + ".detr_encoder.text_features");
  at::Tensor valid = prompt_valid(fx, c);
  at::Tensor padded = at::cat({prompt, prompt.slice(1, 0, 3).mul(7.0)}, 1);
  at::Tensor padded_valid = at::cat({valid, valid.slice(1, 0, 3).logical_not()}, 1);
  const models::DotProductScoring& scoring = b.modules->detector->scoring;
  expect_close("padded", scoring.forward(hidden, padded, padded_valid), fx.intermediate(c + ".dot_product_scoring"));
  EXPECT_THROW(scoring.forward(hidden, prompt, valid.slice(1, 1)), Error);
}

}  // namespace
}  // namespace sam3rt
