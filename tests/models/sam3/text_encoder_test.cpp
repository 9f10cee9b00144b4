// Text encoder parity: the CLIP text transformer's last hidden state (every position,
// padding included) and the resizer's text features against the refgen fixture.
#include "models/sam3/text_encoder.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "models/modules.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

// A fixture and its checkpoint's modules.
struct Env {
  testing::Fixture fx;
  std::unique_ptr<models::Modules> modules;

  explicit Env(const std::string& dir) : fx(dir), modules(testing::bind_model(fx.dir()).modules) {}
  const models::TextEncoder& encoder() const { return modules->detector->text_encoder; }
};

class TextEncoderParity : public ::testing::TestWithParam<std::string> {};

// Every case of the fixture that recorded the text encoder (c3/c4 reuse c0/c2's prompts).
const std::vector<std::string> kCases = {"c0_hf_text_only", "c1_text_boxes", "c2_batch2_padded_boxes"};

TEST_P(TextEncoderParity, LastHiddenStateAndProjection) {
  const Env b(GetParam());
  for (const std::string& c : kCases) {
    SCOPED_TRACE(c);
    const at::Tensor ids = b.fx.input(c + ".input_ids");
    const at::Tensor mask = b.fx.input(c + ".attention_mask");
    // The fixture pads: the key-padding mask must matter for the padding rows.
    ASSERT_LT(mask.sum().item<int64_t>(), mask.numel());
    SAM3RT_EXPECT_CLOSE(b.encoder().encode(ids, mask), b.fx.intermediate(c + ".text_encoder.last_hidden_state"),
                        testing::kParityRelL2);
    SAM3RT_EXPECT_CLOSE(b.encoder().forward(ids, mask), b.fx.intermediate(c + ".text_projection"),
                        testing::kParityRelL2);
  }
}

// Causality: the valid tokens (which precede the padding) do not depend on the padding
// mask; only the padding rows do.
TEST_P(TextEncoderParity, ValidTokensIndependentOfPaddingMask) {
  const Env b(GetParam());
  const std::string c = "c2_batch2_padded_boxes";
  const at::Tensor ids = b.fx.input(c + ".input_ids");
  const at::Tensor mask = b.fx.input(c + ".attention_mask");
  const at::Tensor ref = b.fx.intermediate(c + ".text_encoder.last_hidden_state");
  const at::Tensor unmasked = b.encoder().encode(ids, at::Tensor());
  for (int64_t i = 0; i < ids.size(0); ++i) {
    const int64_t n = mask[i].sum().item<int64_t>();
    ASSERT_GT(n, 0);
    ASSERT_LT(n, ids.size(1));
    SAM3RT_EXPECT_CLOSE(unmasked[i].slice(0, 0, n), ref[i].slice(0, 0, n), testing::kParityRelL2);
    // Padding rows attend to themselves without the key mask: they must differ.
    EXPECT_GT(testing::rel_l2(unmasked[i].slice(0, n), ref[i].slice(0, n)), 1e-3);
  }
}

TEST_P(TextEncoderParity, RejectsBadInput) {
  const Env b(GetParam());
  const at::Tensor ids = b.fx.input("c0_hf_text_only.input_ids");
  const at::Tensor mask = b.fx.input("c0_hf_text_only.attention_mask");
  const int64_t ctx = b.encoder().config().max_position_embeddings;
  const int64_t vocab = b.encoder().config().vocab_size;
  EXPECT_THROW(b.encoder().encode(ids.view({-1}), mask), Error);                                 // not [B, L]
  EXPECT_THROW(b.encoder().encode(ids, mask.slice(1, 1)), Error);                                // mask shape
  EXPECT_THROW(b.encoder().encode(ids.repeat({1, 2}).slice(1, 0, ctx + 1), at::Tensor()), Error);  // too long
  EXPECT_THROW(b.encoder().encode(ids.clone().fill_(vocab), mask), Error);                       // id out of range
  EXPECT_THROW(b.encoder().encode(ids.clone().fill_(-1), mask), Error);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TextEncoderParity, ::testing::Values("sam3-tiny-seed0/sam3_image"));

}  // namespace
}  // namespace sam3rt
