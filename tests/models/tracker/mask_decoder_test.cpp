// The tracker's mask decoder alone, fed the reference's own inputs (image embeddings,
// high-resolution features, prompt embeddings and image PE from the sam3_tracker fixture),
// against every recorded intermediate of the two-way transformer and the decoder outputs;
// plus both branches of the single-mask stability fallback.
#include <gtest/gtest.h>

#include <ATen/ops/argmax.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/equal.h>

#include <string>
#include <vector>

#include "io/config.h"
#include "models/modules.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

struct Case {
  const char* name;
  bool multimask;
};
constexpr Case kCases[] = {{"t0_points_box", true}, {"t1_single_point", true}, {"t2_box_single_mask", false}};

struct DecoderInputs {
  at::Tensor image, image_pe, sparse, dense, feat_s0, feat_s1;
};

// The reference's decoder inputs for `kase`: outputs image_embeddings.{0,1,2} are
// [feat_s0, feat_s1, pixel features]; the image PE is recorded as [G, G, d].
DecoderInputs reference_inputs(const testing::Fixture& fx, const std::string& kase) {
  DecoderInputs in;
  in.feat_s0 = fx.output(kase + ".image_embeddings.0");
  in.feat_s1 = fx.output(kase + ".image_embeddings.1");
  in.image = fx.output(kase + ".image_embeddings.2");
  in.image_pe = fx.intermediate(kase + ".shared_image_embedding").permute({2, 0, 1}).unsqueeze(0);
  in.sparse = fx.intermediate(kase + ".prompt_encoder.0");
  in.dense = fx.intermediate(kase + ".prompt_encoder.1");
  return in;
}

models::MaskDecoderOutput run(const models::TrackerMaskDecoder& dec, const DecoderInputs& in, bool multimask,
                              models::MaskDecoderTrace* trace = nullptr) {
  return dec.forward(in.image, in.image_pe, in.sparse, in.dense, multimask, in.feat_s0, in.feat_s1, trace);
}

TEST(TrackerMaskDecoder, MatchesReferenceEveryCase) {
  const testing::Fixture fx("sam3-tiny-seed0/sam3_tracker");
  const ModelConfig config = load_model_config(fx.config_path());
  const testing::BoundModel b = testing::bind_model(fx.dir(), config);
  const models::TrackerMaskDecoder& dec = b.modules->tracker->mask_decoder;
  const int64_t layers = config.tracker->mask_decoder.num_hidden_layers;

  testing::WorstRelL2 w_layers("mask_decoder.transformer.layers.*");
  testing::WorstRelL2 w_transformer("mask_decoder.transformer.{0,1}");
  testing::WorstRelL2 w_masks("mask_decoder.0 (masks)");
  testing::WorstRelL2 w_iou("mask_decoder.1 (iou)");
  testing::WorstRelL2 w_tokens("mask_decoder.2 (sam tokens)");
  testing::WorstRelL2 w_obj("mask_decoder.3 (object score)");
  for (const Case& c : kCases) {
    const std::string k = c.name;
    const std::string pre = k + ".mask_decoder.";
    models::MaskDecoderTrace trace;
    const models::MaskDecoderOutput out = run(dec, reference_inputs(fx, k), c.multimask, &trace);

    ASSERT_EQ(static_cast<int64_t>(trace.layer_tokens.size()), layers);
    for (int64_t i = 0; i < layers; ++i) {
      const std::string lp = pre + "transformer.layers." + std::to_string(i) + ".";
      const at::Tensor ref_tokens = fx.intermediate(lp + "0");  // [B, P, T, d]
      const at::Tensor ref_image = fx.intermediate(lp + "1");   // [B*P, 1, HW, d]
      const at::Tensor ref_attn = fx.intermediate(lp + "2");    // [B*P, 1, HW, d]
      w_layers.check(trace.layer_tokens[i], ref_tokens, lp + "0");
      w_layers.check(trace.layer_image[i].unsqueeze(1), ref_image, lp + "1");
      w_layers.check(trace.layer_image_attn[i].unsqueeze(1), ref_attn, lp + "2");
    }
    w_transformer.check(trace.tokens, fx.intermediate(pre + "transformer.0"), pre + "transformer.0");
    w_transformer.check(trace.image.unsqueeze(1), fx.intermediate(pre + "transformer.1"), pre + "transformer.1");

    w_masks.check(out.masks, fx.intermediate(pre + "0"), k);
    w_iou.check(out.iou_scores, fx.intermediate(pre + "1"), k);
    w_tokens.check(out.sam_tokens, fx.intermediate(pre + "2"), k);
    w_obj.check(out.object_score_logits, fx.intermediate(pre + "3"), k);
    // The model's outputs are the decoder's.
    w_masks.check(out.masks, fx.output(k + ".pred_masks"), k + " pred_masks");
    w_iou.check(out.iou_scores, fx.output(k + ".iou_scores"), k + " iou_scores");
    w_obj.check(out.object_score_logits, fx.output(k + ".object_score_logits"), k + " object_score_logits");
  }
}

// Single-mask output: a stable mask 0 is returned as is; an unstable one is replaced by
// the multimask output with the highest predicted IoU. The threshold is forced to 0
// (every mask stable) and to 2 (none is), and the result compared with the decoder's
// unselected outputs. The sam token is mask token 0 either way.
TEST(TrackerMaskDecoder, SingleMaskStabilityFallback) {
  const testing::Fixture fx("sam3-tiny-seed0/sam3_tracker");
  for (const Case& c : kCases) {
    const DecoderInputs in = reference_inputs(fx, c.name);
    for (double thresh : {0.0, 2.0}) {
      SCOPED_TRACE(std::string(c.name) + " thresh " + std::to_string(thresh));
      ModelConfig config = load_model_config(fx.config_path());
      config.tracker->mask_decoder.dynamic_multimask_stability_thresh = thresh;
      const testing::BoundModel b = testing::bind_model(fx.dir(), config);
      const models::TrackerMaskDecoder& dec = b.modules->tracker->mask_decoder;
      models::MaskDecoderTrace trace;
      const models::MaskDecoderOutput single = run(dec, in, /*multimask=*/false, &trace);
      const models::MaskDecoderOutput multi = run(dec, in, /*multimask=*/true);
      ASSERT_EQ(single.masks.size(2), 1);
      int64_t slot = 0;
      if (thresh > 1.0) slot = 1 + trace.all_iou_scores.slice(2, 1).argmax(-1).item<int64_t>();
      EXPECT_TRUE(at::equal(single.masks, trace.all_masks.slice(2, slot, slot + 1)));
      EXPECT_TRUE(at::equal(single.iou_scores, trace.all_iou_scores.slice(2, slot, slot + 1)));
      EXPECT_TRUE(at::equal(multi.masks, trace.all_masks.slice(2, 1)));
      SAM3RT_EXPECT_CLOSE(single.sam_tokens, trace.tokens.slice(2, 2, 3), 0.0);
      SAM3RT_EXPECT_CLOSE(multi.sam_tokens, trace.tokens.slice(2, 3, 3 + multi.masks.size(2)), 0.0);
    }
  }
}

// Two prompt sets per image are decoded independently: each equals its own batch-1 run.
TEST(TrackerMaskDecoder, PromptSetsAreIndependent) {
  const testing::Fixture fx("sam3-tiny-seed0/sam3_tracker");
  const testing::BoundModel b = testing::bind_model(fx.dir());
  const models::TrackerMaskDecoder& dec = b.modules->tracker->mask_decoder;
  DecoderInputs a = reference_inputs(fx, "t0_points_box");
  const DecoderInputs other = reference_inputs(fx, "t1_single_point");
  // Same token count: t0 has 5 prompt tokens, t1 2; pad t1 with t0's last three.
  const at::Tensor second = at::cat({other.sparse, a.sparse.slice(2, 2)}, 2);
  const models::MaskDecoderOutput one = run(dec, a, true);
  DecoderInputs b2 = a;
  b2.sparse = second;
  const models::MaskDecoderOutput two = run(dec, b2, true);
  DecoderInputs both = a;
  both.sparse = at::cat({a.sparse, second}, 1);  // [1, 2, 5, d]
  const models::MaskDecoderOutput out = run(dec, both, true);
  ASSERT_EQ(out.masks.size(1), 2);
  SAM3RT_EXPECT_CLOSE(out.masks.select(1, 0), one.masks.select(1, 0), 1e-6);
  SAM3RT_EXPECT_CLOSE(out.masks.select(1, 1), two.masks.select(1, 0), 1e-6);
  SAM3RT_EXPECT_CLOSE(out.iou_scores.select(1, 1), two.iou_scores.select(1, 0), 1e-6);
  SAM3RT_EXPECT_CLOSE(out.object_score_logits.select(1, 1), two.object_score_logits.select(1, 0), 1e-6);
}

}  // namespace
}  // namespace sam3rt
