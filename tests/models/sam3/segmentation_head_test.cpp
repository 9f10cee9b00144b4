// Segmentation head parity against the tiny sam3_image fixture (pixel decoder, instance
// masks, semantic map from recorded inputs), and the whole detector head chained from the
// neck features and prompt: encoder, decoder, scoring and segmentation against the final
// outputs of all five cases.
#include <ATen/ops/cat.h>
#include <ATen/ops/stack.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "models/modules.h"
#include "nn/position_encoding.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"
#include "testing/image_cases.h"

namespace sam3rt {
namespace {

// The neck levels the detector uses, finest first (the coarsest is replaced by the memory).
std::vector<at::Tensor> fpn_levels(const testing::Fixture& fx, const std::string& c) {
  const std::string p = testing::vision_case(c) + ".vision_encoder.neck.0.";
  return {fx.intermediate(p + "0"), fx.intermediate(p + "1"), fx.intermediate(p + "2")};
}

TEST(SegmentationHead, MatchesReference) {
  const testing::Fixture& fx = testing::image_fixture().fx;
  const testing::BoundModel& b = testing::image_fixture().bound;
  const models::SegmentationHead& head = b.modules->detector->segmentation_head;
  testing::WorstRelL2 w("mask_decoder");

  for (const std::string& c : testing::kImageCases) {
    SCOPED_TRACE(c);
    at::Tensor hidden = fx.intermediate(c + ".detr_decoder.intermediate_hidden_states");
    models::SegmentationOutput out =
        head.forward(hidden[hidden.size(0) - 1], fx.intermediate(c + ".detr_encoder.last_hidden_state"),
                     fpn_levels(fx, c), fx.intermediate(c + ".detr_encoder.text_features"), testing::prompt_valid(fx, c));
    const std::string p = c + ".mask_decoder.";
    if (fx.has_intermediate(p + "pixel_decoder")) {
      w.check(out.pixel_embed, fx.intermediate(p + "pixel_decoder"), p + "pixel_decoder");
    }
    w.check(out.pred_masks, fx.intermediate(p + "pred_masks"), p + "pred_masks");
    w.check(out.semantic_seg, fx.intermediate(p + "semantic_seg"), p + "semantic_seg");
  }
}

TEST(SegmentationHead, RejectsMismatchedLevels) {
  const testing::Fixture& fx = testing::image_fixture().fx;
  const testing::BoundModel& b = testing::image_fixture().bound;
  const std::string c = "c0_hf_text_only";
  at::Tensor hidden = fx.intermediate(c + ".detr_decoder.intermediate_hidden_states");
  std::vector<at::Tensor> fpn = fpn_levels(fx, c);
  fpn.pop_back();  // the memory no longer matches the coarsest level
  EXPECT_THROW(b.modules->detector->segmentation_head.forward(
                   hidden[0], fx.intermediate(c + ".detr_encoder.last_hidden_state"), fpn,
                   fx.intermediate(c + ".detr_encoder.text_features"), testing::prompt_valid(fx, c)),
               Error);
}

// Encoder -> decoder -> scoring -> segmentation from the neck features and the prompt.
TEST(DetectorHead, ChainedMatchesFinalOutputs) {
  const testing::Fixture& fx = testing::image_fixture().fx;
  const testing::BoundModel& b = testing::image_fixture().bound;
  const models::DetectorModules& det = *b.modules->detector;
  testing::WorstRelL2 w("detector head chained from the neck");

  for (const std::string& c : testing::kImageCases) {
    SCOPED_TRACE(c);
    const std::vector<at::Tensor> fpn = fpn_levels(fx, c);
    const at::Tensor& coarse = fpn.back();  // [B, d, H, W]
    const int64_t gh = coarse.size(2), gw = coarse.size(3);
    at::Tensor image = coarse.flatten(2).transpose(1, 2);
    // [1, HW, d]: the sine grid encoding, broadcast over the batch.
    at::Tensor pos = nn::sine_position_grid(gh, gw, coarse.size(1), coarse.options()).flatten(2).transpose(1, 2);
    at::Tensor prompt = fx.intermediate(c + ".detr_encoder.text_features");
    at::Tensor valid = testing::prompt_valid(fx, c);

    at::Tensor memory = det.detr_encoder.forward(image, pos, prompt, valid);
    models::DetrDecoderOutput dec = det.detr_decoder.forward(memory, pos, gh, gw, prompt, valid);
    const int64_t last = dec.hidden_states.size(0) - 1;
    at::Tensor logits = det.scoring.forward(dec.hidden_states[last], prompt, valid).squeeze(-1);
    models::SegmentationOutput seg = det.segmentation_head.forward(dec.hidden_states[last], memory, fpn, prompt, valid);

    at::Tensor box = dec.boxes[last];  // cxcywh
    at::Tensor cx = box.select(-1, 0), cy = box.select(-1, 1);
    at::Tensor hw = box.select(-1, 2).mul(0.5), hh = box.select(-1, 3).mul(0.5);
    at::Tensor xyxy = at::stack({cx.sub(hw), cy.sub(hh), cx.add(hw), cy.add(hh)}, -1);

    w.check(logits, fx.output(c + ".pred_logits"), c + ".chained.pred_logits");
    w.check(xyxy, fx.output(c + ".pred_boxes"), c + ".chained.pred_boxes");
    w.check(dec.presence_logits[last], fx.output(c + ".presence_logits"), c + ".chained.presence_logits");
    w.check(dec.reference_boxes, fx.output(c + ".decoder_reference_boxes"), c + ".chained.decoder_reference_boxes");
    w.check(seg.pred_masks, fx.output(c + ".pred_masks"), c + ".chained.pred_masks");
    w.check(seg.semantic_seg, fx.output(c + ".semantic_seg"), c + ".chained.semantic_seg");
  }
}

}  // namespace
}  // namespace sam3rt
