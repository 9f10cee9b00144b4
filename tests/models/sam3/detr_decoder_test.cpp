// DETR decoder parity against the tiny sam3_image fixture: every layer's raw output
// (presence token + queries), the normalised queries, reference boxes and presence logits
// of all five cases, run from the recorded encoder memory and prompt.
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

models::DetrDecoderOutput run_decoder(const testing::Fixture& fx, const models::DetrDecoder& decoder,
                                      const std::string& c) {
  at::Tensor grid = fx.intermediate(c + ".detr_encoder.spatial_shapes");  // [1, 2]
  return decoder.forward(fx.intermediate(c + ".detr_encoder.last_hidden_state"),
                         fx.intermediate(c + ".detr_encoder.pos_embeds_flattened"), grid[0][0].item<int64_t>(),
                         grid[0][1].item<int64_t>(), fx.intermediate(c + ".detr_encoder.text_features"),
                         testing::prompt_valid(fx, c));
}

TEST(DetrDecoder, MatchesReferencePerLayer) {
  const testing::Fixture& fx = testing::image_fixture().fx;
  const testing::BoundModel& b = testing::image_fixture().bound;
  const models::DetrDecoder& decoder = b.modules->detector->detr_decoder;
  const int64_t num_layers = b.modules->config.detector->detr_decoder.num_layers;
  testing::WorstRelL2 w("detr_decoder");

  for (const std::string& c : testing::kImageCases) {
    SCOPED_TRACE(c);
    models::DetrDecoderOutput out = run_decoder(fx, decoder, c);
    ASSERT_EQ(static_cast<int64_t>(out.layer_states.size()), num_layers);
    for (int64_t i = 0; i < num_layers; ++i) {
      const std::string name = c + ".detr_decoder.layers." + std::to_string(i);
      w.group("layers.*").check(out.layer_states[i], fx.intermediate(name), name);
    }
    const std::string p = c + ".detr_decoder.";
    w.check(out.hidden_states, fx.intermediate(p + "intermediate_hidden_states"), p + "intermediate_hidden_states");
    w.check(out.reference_boxes, fx.intermediate(p + "reference_boxes"), p + "reference_boxes");
    w.check(out.reference_boxes, fx.output(c + ".decoder_reference_boxes"), c + ".decoder_reference_boxes");
    w.check(out.presence_logits, fx.intermediate(p + "presence_logits"), p + "presence_logits");
    w.check(out.presence_logits[num_layers - 1], fx.output(c + ".presence_logits"), c + ".presence_logits");
    // The box head's deltas: the refined boxes of layer l are the next layer's references.
    for (int64_t i = 0; i + 1 < num_layers; ++i) {
      EXPECT_TRUE(out.boxes[i].equal(out.reference_boxes[i + 1])) << "layer " << i;
    }
  }
}

TEST(DetrDecoder, RejectsGridMismatch) {
  const testing::Fixture& fx = testing::image_fixture().fx;
  const testing::BoundModel& b = testing::image_fixture().bound;
  const std::string c = "c0_hf_text_only";
  at::Tensor memory = fx.intermediate(c + ".detr_encoder.last_hidden_state");
  at::Tensor pos = fx.intermediate(c + ".detr_encoder.pos_embeds_flattened");
  at::Tensor prompt = fx.intermediate(c + ".detr_encoder.text_features");
  const int64_t n = memory.size(1);
  EXPECT_THROW(b.modules->detector->detr_decoder.forward(memory, pos, n, 2, prompt, testing::prompt_valid(fx, c)), Error);
  EXPECT_THROW(b.modules->detector->detr_decoder.forward(memory, pos, n, 1, prompt.slice(1, 1), testing::prompt_valid(fx, c)),
               Error);
}

}  // namespace
}  // namespace sam3rt
