// The single-image tracker end to end (pixels -> ViT -> tracker neck -> prompt encoder ->
// mask decoder) against the sam3_tracker fixture, the no_memory_embedding option, mask
// prompts, and a smoke run from the sam3_video layout (ViT shared with the detector).
#include <gtest/gtest.h>

#include <ATen/ops/isfinite.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/config.h"
#include "io/weights.h"
#include "models/modules.h"
#include "models/tracker/tracker.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

using testing::BoundModel;
using testing::Fixture;
using testing::WorstRelL2;

struct Case {
  const char* name;
  bool points, boxes, multimask;
};
constexpr Case kCases[] = {{"t0_points_box", true, true, true},
                           {"t1_single_point", true, false, true},
                           {"t2_box_single_mask", false, true, false}};

models::TrackerPrompts prompts_of(const Fixture& fx, const Case& c) {
  const std::string k = c.name;
  models::TrackerPrompts p;
  if (c.points) {
    p.points = fx.input(k + ".input_points");
    p.labels = fx.input(k + ".input_labels");
  }
  if (c.boxes) p.boxes = fx.input(k + ".input_boxes");
  return p;
}

TEST(Tracker, MatchesReferenceEndToEnd) {
  const Fixture fx("sam3-tiny-seed0/sam3_tracker");
  const BoundModel b = testing::bind_model(fx.dir());
  const models::Modules& m = *b.modules;
  const int64_t layers = m.config.tracker->mask_decoder.num_hidden_layers;

  WorstRelL2 w_features("image_embeddings.{0,1,2}");
  WorstRelL2 w_pe("shared_image_embedding");
  WorstRelL2 w_prompt("prompt_encoder.{0,1}");
  WorstRelL2 w_transformer("mask_decoder.transformer.*");
  WorstRelL2 w_decoder("mask_decoder.{0,1,2,3}");
  WorstRelL2 w_out("pred_masks, iou_scores, object_score_logits");
  for (const Case& c : kCases) {
    const std::string k = c.name;
    const models::TrackerImageFeatures f = models::encode_tracker_image(*m.tracker, *m.frame_encoder, fx.input(k + ".pixel_values"));
    w_features.check(f.feat_s0, fx.output(k + ".image_embeddings.0"), k + " feat_s0");
    w_features.check(f.feat_s1, fx.output(k + ".image_embeddings.1"), k + " feat_s1");
    w_features.check(f.image_embedding, fx.output(k + ".image_embeddings.2"), k + " image embedding");
    w_pe.check(f.image_pe.squeeze(0).permute({1, 2, 0}), fx.intermediate(k + ".shared_image_embedding"), k);

    models::TrackerPredictTrace trace;
    const models::TrackerPrediction p = models::predict_tracker(*m.tracker, f, prompts_of(fx, c), c.multimask, &trace);
    w_prompt.check(trace.prompts.sparse, fx.intermediate(k + ".prompt_encoder.0"), k + " sparse");
    w_prompt.check(trace.prompts.dense, fx.intermediate(k + ".prompt_encoder.1"), k + " dense");
    const std::string pre = k + ".mask_decoder.";
    for (int64_t i = 0; i < layers; ++i) {
      const std::string lp = pre + "transformer.layers." + std::to_string(i) + ".";
      w_transformer.check(trace.decoder.layer_tokens[i], fx.intermediate(lp + "0"), lp + "0");
      w_transformer.check(trace.decoder.layer_image[i].unsqueeze(1), fx.intermediate(lp + "1"), lp + "1");
      w_transformer.check(trace.decoder.layer_image_attn[i].unsqueeze(1), fx.intermediate(lp + "2"), lp + "2");
    }
    w_transformer.check(trace.decoder.tokens, fx.intermediate(pre + "transformer.0"), pre + "transformer.0");
    w_transformer.check(trace.decoder.image.unsqueeze(1), fx.intermediate(pre + "transformer.1"),
                        pre + "transformer.1");
    w_decoder.check(p.masks, fx.intermediate(pre + "0"), pre + "0");
    w_decoder.check(p.iou_scores, fx.intermediate(pre + "1"), pre + "1");
    w_decoder.check(p.sam_tokens, fx.intermediate(pre + "2"), pre + "2");
    w_decoder.check(p.object_score_logits, fx.intermediate(pre + "3"), pre + "3");
    w_out.check(p.masks, fx.output(k + ".pred_masks"), k + ".pred_masks");
    w_out.check(p.iou_scores, fx.output(k + ".iou_scores"), k + ".iou_scores");
    w_out.check(p.object_score_logits, fx.output(k + ".object_score_logits"), k + ".object_score_logits");
  }
}

// add_no_memory_embedding = true (Meta's behaviour) adds the learned vector to every
// position of level G; the default (transformers) leaves level G as the neck made it.
TEST(Tracker, NoMemoryEmbeddingOption) {
  const Fixture fx("sam3-tiny-seed0/sam3_tracker");
  const BoundModel b = testing::bind_model(fx.dir());
  const models::Modules& m = *b.modules;
  const at::Tensor pixels = fx.input("t0_points_box.pixel_values");
  const models::TrackerImageFeatures hf = models::encode_tracker_image(*m.tracker, *m.frame_encoder, pixels);
  models::TrackerImageOptions meta_options;
  meta_options.add_no_memory_embedding = true;
  const models::TrackerImageFeatures meta = models::encode_tracker_image(*m.tracker, *m.frame_encoder, pixels, meta_options);
  const int64_t d = hf.image_embedding.size(1);
  ASSERT_EQ(hf.levels.size(), 3u);
  SAM3RT_EXPECT_CLOSE(hf.image_embedding, hf.levels[2], 0.0);
  const at::Tensor no_mem = m.tracker->no_memory_embedding.view({1, d, 1, 1});
  SAM3RT_EXPECT_CLOSE(meta.image_embedding, hf.levels[2].add(no_mem), 0.0);
  SAM3RT_EXPECT_CLOSE(meta.feat_s0, hf.feat_s0, 0.0);
  // It changes the prediction (the checkpoint's vector is not zero).
  const models::TrackerPrediction a = models::predict_tracker(*m.tracker, hf, prompts_of(fx, kCases[1]), true);
  const models::TrackerPrediction c = models::predict_tracker(*m.tracker, meta, prompts_of(fx, kCases[1]), true);
  EXPECT_GT(testing::rel_l2(c.masks, a.masks), 1e-3);
}

// A mask prompt: a 4G x 4G mask goes straight to mask_embed; another size is resized
// first; without points or boxes the sparse prompt is one not-a-point (plus the padding).
TEST(Tracker, MaskAndEmptyPrompts) {
  const Fixture fx("sam3-tiny-seed0/sam3_tracker");
  const BoundModel b = testing::bind_model(fx.dir());
  const models::Modules& m = *b.modules;
  const models::TrackerImageFeatures f = models::encode_tracker_image(*m.tracker, *m.frame_encoder, fx.input("t0_points_box.pixel_values"));
  const int64_t G = m.tracker->prompt_encoder.grid(), d = f.image_embedding.size(1);

  models::TrackerPrompts empty;
  models::TrackerPredictTrace trace;
  const models::TrackerPrediction e = models::predict_tracker(*m.tracker, f, empty, true, &trace);
  EXPECT_EQ(e.masks.sizes(), (std::vector<int64_t>{1, 1, 3, 4 * G, 4 * G}));
  ASSERT_EQ(trace.prompts.sparse.sizes(), (std::vector<int64_t>{1, 1, 2, d}));
  // Both tokens are not_a_point_embed (the t1 reference's padding token).
  const at::Tensor not_a_point = fx.intermediate("t1_single_point.prompt_encoder.0").select(2, 1);
  EXPECT_LE(testing::rel_l2(trace.prompts.sparse.select(2, 0), not_a_point), 1e-7);
  EXPECT_LE(testing::rel_l2(trace.prompts.sparse.select(2, 1), not_a_point), 1e-7);

  models::TrackerPrompts with_mask = prompts_of(fx, kCases[1]);
  with_mask.mask_input = at::randn({1, 1, 4 * G, 4 * G}).mul(4.0);
  models::TrackerPredictTrace mt;
  const models::TrackerPrediction pm = models::predict_tracker(*m.tracker, f, with_mask, true, &mt);
  SAM3RT_EXPECT_CLOSE(mt.prompts.dense, m.tracker->prompt_encoder.embed_mask(with_mask.mask_input), 0.0);
  const models::TrackerPrediction pn = models::predict_tracker(*m.tracker, f, prompts_of(fx, kCases[1]), true);
  EXPECT_GT(testing::rel_l2(pm.masks, pn.masks), 1e-3);

  with_mask.mask_input = at::randn({1, 1, 3 * G, 5 * G});
  const models::TrackerPrediction pr = models::predict_tracker(*m.tracker, f, with_mask, false);
  EXPECT_EQ(pr.masks.sizes(), (std::vector<int64_t>{1, 1, 1, 4 * G, 4 * G}));
  EXPECT_TRUE(at::isfinite(pr.masks).all().item<bool>());

  models::TrackerPrompts bad = prompts_of(fx, kCases[0]);
  bad.boxes = at::zeros({1, 2, 4});  // 2 prompt sets vs 1 for the points
  EXPECT_THROW(models::predict_tracker(*m.tracker, f, bad, true), Error);
  bad = prompts_of(fx, kCases[1]);
  bad.mask_input = at::zeros({1, 2, 4 * G, 4 * G});
  EXPECT_THROW(models::predict_tracker(*m.tracker, f, bad, true), Error);
}

// The published layout (sam3_video): the tracker binds with its own neck and the
// detector's ViT; predict runs on a video frame with one click. No single-image reference
// exists for this layout, so this checks shapes and finiteness only.
TEST(Tracker, RunsFromVideoLayout) {
  const Fixture fx("sam3-tiny-seed0/sam3_video");
  const BoundModel b = testing::bind_model(fx.dir());
  const models::Modules& m = *b.modules;
  ASSERT_TRUE(m.tracker.has_value());
  ASSERT_TRUE(m.detector.has_value());
  const TrackerConfig& tc = *m.config.tracker;
  const int64_t d = tc.mask_decoder.hidden_size, G = m.tracker->prompt_encoder.grid();
  const int64_t M = tc.mask_decoder.num_multimask_outputs;

  const at::Tensor frame = fx.input("video.pixel_values").slice(0, 0, 1);  // [1, 3, S, S]
  const models::TrackerImageFeatures f = models::encode_tracker_image(*m.tracker, *m.frame_encoder, frame);
  EXPECT_EQ(f.image_embedding.sizes(), (std::vector<int64_t>{1, d, G, G}));
  EXPECT_EQ(f.feat_s0.sizes(), (std::vector<int64_t>{1, d / 8, 4 * G, 4 * G}));
  EXPECT_EQ(f.feat_s1.sizes(), (std::vector<int64_t>{1, d / 4, 2 * G, 2 * G}));

  const double S = static_cast<double>(tc.prompt_encoder.image_size);
  models::TrackerPrompts click;
  click.points = at::tensor(std::vector<float>{static_cast<float>(S * 0.4), static_cast<float>(S * 0.6)})
                     .view({1, 1, 1, 2});
  click.labels = at::tensor(std::vector<int64_t>{1}).view({1, 1, 1});
  for (bool multimask : {true, false}) {
    const models::TrackerPrediction p = models::predict_tracker(*m.tracker, f, click, multimask);
    const int64_t n = multimask ? M : 1;
    EXPECT_EQ(p.masks.sizes(), (std::vector<int64_t>{1, 1, n, 4 * G, 4 * G}));
    EXPECT_EQ(p.iou_scores.sizes(), (std::vector<int64_t>{1, 1, n}));
    EXPECT_EQ(p.object_score_logits.sizes(), (std::vector<int64_t>{1, 1, 1}));
    EXPECT_EQ(p.sam_tokens.sizes(), (std::vector<int64_t>{1, 1, n, d}));
    EXPECT_TRUE(at::isfinite(p.masks).all().item<bool>());
    EXPECT_TRUE(at::isfinite(p.iou_scores).all().item<bool>());
    EXPECT_TRUE(at::isfinite(p.object_score_logits).all().item<bool>());
    EXPECT_GT(p.masks.std().item<double>(), 0.0);
  }
}

// Nothing is tied to the fixture's sizes: the sam3_tracker config with another width,
// head count, MLP width, IoU head depth / width, mask-input channels and grid binds random
// weights and runs every prompt kind (from a random ViT output, so the ViT's own windowing
// is not involved).
TEST(Tracker, RunsWithOtherSizes) {
  std::ifstream in(testing::data_path("sam3-tiny-seed0/sam3_tracker/config.json"));
  ASSERT_TRUE(in.good());
  nlohmann::json j = nlohmann::json::parse(in);
  const int64_t d = 56, G = 13, S = G * 14;
  auto& md = j["mask_decoder_config"];
  md["hidden_size"] = d;
  md["num_attention_heads"] = 4;
  md["mlp_dim"] = 120;
  md["iou_head_depth"] = 4;
  md["iou_head_hidden_dim"] = 48;
  auto& pc = j["prompt_encoder_config"];
  pc["hidden_size"] = d;
  pc["mask_input_channels"] = 8;
  pc["image_size"] = S;
  auto& vc = j["vision_config"];
  vc["fpn_hidden_size"] = d;
  vc["backbone_feature_sizes"] = {{4 * G, 4 * G}, {2 * G, 2 * G}, {G, G}};
  vc["backbone_config"]["image_size"] = S;
  const ModelConfig config = parse_model_config(j.dump(), "modified sam3_tracker config");

  std::map<std::string, at::Tensor> weights;
  for (const io::ExpectedTensor& t : models::expected_tensors(config)) {
    ASSERT_EQ(t.dtype, io::DType::kF32) << t.name;
    weights[t.name] = at::randn(t.shape).mul(0.3);
  }
  io::WeightStore store(std::move(weights));
  const std::unique_ptr<models::Modules> m = models::bind_modules(config, store);
  store.finish("random weights");
  ASSERT_EQ(m->tracker->prompt_encoder.grid(), G);

  const int64_t D = config.tracker->vision->backbone.hidden_size;
  const models::Sam3TrackerImageEncoder& encoder = *m->sam3_tracker_encoder;
  const models::TrackerImageFeatures f =
      models::encode_tracker_levels(*m->tracker, encoder, encoder.encode_vit(at::randn({2, D, G, G})));
  EXPECT_EQ(f.image_embedding.sizes(), (std::vector<int64_t>{2, d, G, G}));
  models::TrackerPrompts p;
  p.points = at::rand({2, 3, 2, 2}).mul(static_cast<double>(S));
  p.labels = at::tensor(std::vector<int64_t>{1, 0, 1, -10, 2, 3, 1, 1, 0, 0, -1, 1}).view({2, 3, 2});
  p.boxes = at::tensor(std::vector<float>{10, 20, 100, 150}).view({1, 1, 4}).expand({2, 3, 4});
  p.mask_input = at::randn({2, 1, 4 * G, 4 * G});
  for (bool multimask : {true, false}) {
    models::TrackerPredictTrace trace;
    const models::TrackerPrediction out = models::predict_tracker(*m->tracker, f, p, multimask, &trace);
    const int64_t n = multimask ? 3 : 1;
    EXPECT_EQ(trace.prompts.sparse.sizes(), (std::vector<int64_t>{2, 3, 5, d}));
    EXPECT_EQ(out.masks.sizes(), (std::vector<int64_t>{2, 3, n, 4 * G, 4 * G}));
    EXPECT_EQ(out.iou_scores.sizes(), (std::vector<int64_t>{2, 3, n}));
    EXPECT_EQ(out.object_score_logits.sizes(), (std::vector<int64_t>{2, 3, 1}));
    EXPECT_EQ(out.sam_tokens.sizes(), (std::vector<int64_t>{2, 3, n, d}));
    EXPECT_TRUE(at::isfinite(out.masks).all().item<bool>());
    EXPECT_TRUE(out.iou_scores.ge(0).logical_and(out.iou_scores.le(1)).all().item<bool>());
  }
  // Each prompt set and image is decoded on its own: slice (1, 2) alone gives the same.
  models::TrackerImageFeatures f1 = f;
  f1.image_embedding = f.image_embedding.slice(0, 1, 2);
  f1.feat_s0 = f.feat_s0.slice(0, 1, 2);
  f1.feat_s1 = f.feat_s1.slice(0, 1, 2);
  models::TrackerPrompts p1;
  p1.points = p.points.slice(0, 1, 2).slice(1, 2, 3);
  p1.labels = p.labels.slice(0, 1, 2).slice(1, 2, 3);
  p1.boxes = p.boxes.slice(0, 1, 2).slice(1, 2, 3);
  p1.mask_input = p.mask_input.slice(0, 1, 2);
  const at::Tensor all = models::predict_tracker(*m->tracker, f, p, true).masks;
  const at::Tensor one = models::predict_tracker(*m->tracker, f1, p1, true).masks;
  SAM3RT_EXPECT_CLOSE(all.slice(0, 1, 2).slice(1, 2, 3), one, 1e-5);
}

}  // namespace
}  // namespace sam3rt
