// The tracker's prompt encoder (points, boxes, masks) and the image positional encoding
// against the sam3_tracker fixture, plus the label semantics and the mask path.
#include <gtest/gtest.h>

#include <ATen/ops/allclose.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <string>
#include <vector>

#include "io/safetensors.h"
#include "models/modules.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

using testing::BoundModel;
using testing::Fixture;
using testing::kParityRelL2;
using testing::WorstRelL2;

// The fixture's cases and which prompts each has (index.json "inputs").
struct Case {
  const char* name;
  bool points, boxes;
};
constexpr Case kCases[] = {{"t0_points_box", true, true}, {"t1_single_point", true, false},
                           {"t2_box_single_mask", false, true}};

models::PromptEmbeddings encode_case(const models::PromptEncoder& pe, const Fixture& fx, const Case& c) {
  const std::string k = c.name;
  return pe.forward(c.points ? fx.input(k + ".input_points") : at::Tensor(),
                    c.points ? fx.input(k + ".input_labels") : at::Tensor(),
                    c.boxes ? fx.input(k + ".input_boxes") : at::Tensor(), at::Tensor());
}

TEST(PromptEncoder, MatchesReferenceEveryCase) {
  const Fixture fx("sam3-tiny-seed0/sam3_tracker");
  const BoundModel b = testing::bind_model(fx.dir());
  const models::PromptEncoder& pe = b.modules->tracker->prompt_encoder;
  WorstRelL2 sparse("prompt_encoder.0 (sparse)"), dense("prompt_encoder.1 (dense)");
  for (const Case& c : kCases) {
    const models::PromptEmbeddings out = encode_case(pe, fx, c);
    const std::string k = c.name;
    sparse.check(out.sparse, fx.intermediate(k + ".prompt_encoder.0"), k);
    dense.check(out.dense, fx.intermediate(k + ".prompt_encoder.1"), k);
  }
}

TEST(PromptEncoder, ImagePositionalEncodingMatchesReference) {
  const Fixture fx("sam3-tiny-seed0/sam3_tracker");
  const BoundModel b = testing::bind_model(fx.dir());
  const models::TrackerModules& t = *b.modules->tracker;
  const int64_t G = t.prompt_encoder.grid();
  const at::Tensor ours = t.shared_image_embedding.grid(G, G);  // [1, d, G, G]
  WorstRelL2 w("shared_image_embedding");
  for (const Case& c : kCases) {
    const at::Tensor ref = fx.intermediate(std::string(c.name) + ".shared_image_embedding");  // [G, G, d]
    w.check(ours.squeeze(0).permute({1, 2, 0}), ref, c.name);
  }
}

// Label -1 gives exactly not_a_point_embed, -10 a zero vector, and a box's third token is
// the same not-a-point; checked against the reference's padding tokens.
TEST(PromptEncoder, LabelSemantics) {
  const Fixture fx("sam3-tiny-seed0/sam3_tracker");
  const BoundModel b = testing::bind_model(fx.dir());
  const models::PromptEncoder& pe = b.modules->tracker->prompt_encoder;
  // t1: one point + the appended padding point (label -1) -> token 1 = not_a_point.
  const at::Tensor ref_t1 = fx.intermediate("t1_single_point.prompt_encoder.0");  // [1, 1, 2, d]
  const at::Tensor not_a_point = ref_t1.select(2, 1);                               // [1, 1, d]
  const at::Tensor ref_t2 = fx.intermediate("t2_box_single_mask.prompt_encoder.0");  // [1, 1, 3, d]
  EXPECT_LE(testing::rel_l2(ref_t2.select(2, 2), not_a_point), 1e-7);

  const at::Tensor points = fx.input("t0_points_box.input_points");  // [1, 1, 2, 2]
  const at::Tensor labels = at::tensor(std::vector<int64_t>{-1, -10}).view({1, 1, 2});
  const models::PromptEmbeddings out = pe.forward(points, labels, at::Tensor(), at::Tensor());
  ASSERT_EQ(out.sparse.size(2), 3);  // two points + padding
  EXPECT_LE(testing::rel_l2(out.sparse.select(2, 0), not_a_point), 1e-7);
  EXPECT_EQ(out.sparse.select(2, 1).abs().max().item<float>(), 0.0f);
  EXPECT_LE(testing::rel_l2(out.sparse.select(2, 2), not_a_point), 1e-7);

  // A box equals its two corners given as points labelled 2 and 3 (plus the padding).
  const at::Tensor box = fx.input("t2_box_single_mask.input_boxes");  // [1, 1, 4]
  const at::Tensor corners = box.view({1, 1, 2, 2});
  const at::Tensor corner_labels = at::tensor(std::vector<int64_t>{2, 3}).view({1, 1, 2});
  const at::Tensor as_points = pe.forward(corners, corner_labels, at::Tensor(), at::Tensor()).sparse;
  SAM3RT_EXPECT_CLOSE(as_points, ref_t2, kParityRelL2);
}

// The dense mask path against the documented composition (Conv k2 s2 -> LN2d -> GELU ->
// Conv k2 s2 -> LN2d -> GELU -> Conv 1x1), written here with raw ATen ops on the
// checkpoint tensors; no reference case exercises a mask input.
TEST(PromptEncoder, MaskInputMatchesComposition) {
  const Fixture fx("sam3-tiny-seed0/sam3_tracker");
  const BoundModel b = testing::bind_model(fx.dir());
  const models::PromptEncoder& pe = b.modules->tracker->prompt_encoder;
  const PromptEncoderConfig& c = pe.config();
  const int64_t G = pe.grid(), d = c.hidden_size;
  const std::string p = "tracker_model.prompt_encoder.mask_embed.";
  auto w = [&](const std::string& n) { return b.checkpoint->tensor(p + n); };
  auto ln2d = [&](const at::Tensor& x, const std::string& n) {
    return at::layer_norm(x.permute({0, 2, 3, 1}), {x.size(1)}, w(n + ".weight"), w(n + ".bias"), c.layer_norm_eps)
        .permute({0, 3, 1, 2});
  };
  const at::Tensor mask = at::randn({2, 1, 4 * G, 4 * G}).mul(5.0);
  at::Tensor h = at::conv2d(mask, w("conv1.weight"), w("conv1.bias"), {2, 2});
  h = at::gelu(ln2d(h, "layer_norm1"));
  h = at::gelu(ln2d(at::conv2d(h, w("conv2.weight"), w("conv2.bias"), {2, 2}), "layer_norm2"));
  const at::Tensor expected = at::conv2d(h, w("conv3.weight"), w("conv3.bias"));

  const at::Tensor points = at::zeros({2, 1, 1, 2});
  const at::Tensor labels = at::tensor(std::vector<int64_t>{1, 1}).view({2, 1, 1});
  const models::PromptEmbeddings out = pe.forward(points, labels, at::Tensor(), mask);
  ASSERT_EQ(out.dense.sizes(), (std::vector<int64_t>{2, d, G, G}));
  SAM3RT_EXPECT_CLOSE(out.dense, expected, 1e-6);
  SAM3RT_EXPECT_CLOSE(pe.embed_mask(mask), expected, 1e-6);
  // Without a mask: no_mask_embed at every position.
  const at::Tensor no_mask = pe.forward(points, labels, at::Tensor(), at::Tensor()).dense;
  const at::Tensor table = b.checkpoint->tensor("tracker_model.prompt_encoder.no_mask_embed.weight");  // [1, d]
  SAM3RT_EXPECT_CLOSE(no_mask, table.view({1, d, 1, 1}).expand({2, d, G, G}), 0.0);
}

TEST(PromptEncoder, RejectsMalformedPrompts) {
  const Fixture fx("sam3-tiny-seed0/sam3_tracker");
  const BoundModel b = testing::bind_model(fx.dir());
  const models::PromptEncoder& pe = b.modules->tracker->prompt_encoder;
  const at::Tensor points = fx.input("t0_points_box.input_points");  // [1, 1, 2, 2]
  const at::Tensor bad_labels = at::tensor(std::vector<int64_t>{1, 7}).view({1, 1, 2});
  EXPECT_THROW(pe.forward(points, bad_labels, at::Tensor(), at::Tensor()), Error);
  EXPECT_THROW(pe.forward(points, at::Tensor(), at::Tensor(), at::Tensor()), Error);
  EXPECT_THROW(pe.forward(points.view({1, 2, 2}), bad_labels, at::Tensor(), at::Tensor()), Error);
  EXPECT_THROW(pe.forward(at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()), Error);
  EXPECT_THROW(pe.forward(at::Tensor(), at::Tensor(), at::zeros({1, 1, 3}), at::Tensor()), Error);
  const int64_t G = pe.grid();
  EXPECT_THROW(pe.forward(at::Tensor(), at::Tensor(), at::zeros({1, 1, 4}), at::zeros({1, 1, 4 * G + 1, 4 * G})),
               Error);
}

}  // namespace
}  // namespace sam3rt
