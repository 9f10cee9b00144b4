// DETR encoder parity against the tiny sam3_image fixture: every layer output and the
// memory of all five cases, run from the recorded neck features and prompt.
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

// Cases c3 / c4 reuse the pixels (and recorded vision features) of c0 / c2.
std::string vision_case(const std::string& c) {
  if (c == "c3_text_padbox" || c == "c1_text_boxes") return "c0_hf_text_only";
  if (c == "c4_batch2_text_padbox") return "c2_batch2_padded_boxes";
  return c;
}

// Text mask, followed by the geometry mask where the geometry encoder ran.
at::Tensor prompt_valid(const testing::Fixture& fx, const std::string& c) {
  at::Tensor text = fx.input(c + ".attention_mask").ne(0);
  const std::string geo = c + ".geometry_encoder.attention_mask";
  return fx.has_intermediate(geo) ? at::cat({text, fx.intermediate(geo).to(at::kBool)}, 1) : text;
}

TEST(DetrEncoder, MatchesReferencePerLayer) {
  testing::Fixture fx("sam3-tiny-seed0/sam3_image");
  const testing::BoundModel b = testing::bind_model(fx.dir());
  const models::DetrEncoder& encoder = b.modules->detector->detr_encoder;
  testing::WorstRelL2 w("detr_encoder");

  for (const std::string& c : kCases) {
    SCOPED_TRACE(c);
    at::Tensor image = fx.intermediate(vision_case(c) + ".vision_encoder.neck.0.2").flatten(2).transpose(1, 2);
    at::Tensor pos = fx.intermediate(c + ".detr_encoder.pos_embeds_flattened");
    at::Tensor prompt = fx.intermediate(c + ".detr_encoder.text_features");
    std::vector<at::Tensor> layers;
    at::Tensor memory = encoder.forward(image, pos, prompt, prompt_valid(fx, c), &layers);
    for (size_t i = 0; i < layers.size(); ++i) {
      const std::string name = c + ".detr_encoder.layers." + std::to_string(i);
      ASSERT_TRUE(fx.has_intermediate(name)) << name;
      w.group("layers.*").check(layers[i], fx.intermediate(name), name);
    }
    EXPECT_FALSE(fx.has_intermediate(c + ".detr_encoder.layers." + std::to_string(layers.size())));
    w.check(memory, fx.intermediate(c + ".detr_encoder.last_hidden_state"), c + ".detr_encoder.last_hidden_state");
  }
}

TEST(DetrEncoder, RejectsMismatchedPrompt) {
  testing::Fixture fx("sam3-tiny-seed0/sam3_image");
  const testing::BoundModel b = testing::bind_model(fx.dir());
  const models::DetrEncoder& encoder = b.modules->detector->detr_encoder;
  const std::string c = "c1_text_boxes";
  at::Tensor image = fx.intermediate(c + ".detr_encoder.last_hidden_state");
  at::Tensor pos = fx.intermediate(c + ".detr_encoder.pos_embeds_flattened");
  at::Tensor prompt = fx.intermediate(c + ".detr_encoder.text_features");
  at::Tensor short_mask = fx.input(c + ".attention_mask").ne(0);  // lacks the geometry tokens
  EXPECT_THROW(encoder.forward(image, pos, prompt, short_mask), Error);
  EXPECT_THROW(encoder.forward(image, pos.slice(1, 1), prompt, prompt_valid(fx, c)), Error);
}

}  // namespace
}  // namespace sam3rt
