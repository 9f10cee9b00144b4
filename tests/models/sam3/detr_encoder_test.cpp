// DETR encoder parity against the tiny sam3_image fixture: every layer output and the
// memory of all five cases, run from the recorded neck features and prompt.
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

TEST(DetrEncoder, MatchesReferencePerLayer) {
  const testing::Fixture& fx = testing::image_fixture().fx;
  const testing::BoundModel& b = testing::image_fixture().bound;
  const models::DetrEncoder& encoder = b.modules->detector->detr_encoder;
  testing::WorstRelL2 w("detr_encoder");

  for (const std::string& c : testing::kImageCases) {
    SCOPED_TRACE(c);
    at::Tensor image = fx.intermediate(testing::vision_case(c) + ".vision_encoder.neck.0.2").flatten(2).transpose(1, 2);
    at::Tensor pos = fx.intermediate(c + ".detr_encoder.pos_embeds_flattened");
    at::Tensor prompt = fx.intermediate(c + ".detr_encoder.text_features");
    std::vector<at::Tensor> layers;
    at::Tensor memory = encoder.forward(image, pos, prompt, testing::prompt_valid(fx, c), &layers);
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
  const testing::Fixture& fx = testing::image_fixture().fx;
  const testing::BoundModel& b = testing::image_fixture().bound;
  const models::DetrEncoder& encoder = b.modules->detector->detr_encoder;
  const std::string c = "c1_text_boxes";
  at::Tensor image = fx.intermediate(c + ".detr_encoder.last_hidden_state");
  at::Tensor pos = fx.intermediate(c + ".detr_encoder.pos_embeds_flattened");
  at::Tensor prompt = fx.intermediate(c + ".detr_encoder.text_features");
  at::Tensor short_mask = fx.input(c + ".attention_mask").ne(0);  // lacks the geometry tokens
  EXPECT_THROW(encoder.forward(image, pos, prompt, short_mask), Error);
  EXPECT_THROW(encoder.forward(image, pos.slice(1, 1), prompt, testing::prompt_valid(fx, c)), Error);
}

}  // namespace
}  // namespace sam3rt
