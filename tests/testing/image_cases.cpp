#include "testing/image_cases.h"

#include <ATen/ops/cat.h>

namespace sam3rt::testing {

const std::vector<std::string> kImageCases = {"c0_hf_text_only", "c1_text_boxes", "c2_batch2_padded_boxes",
                                              "c3_text_padbox", "c4_batch2_text_padbox"};

const ImageFixture& image_fixture() {
  static const ImageFixture f;
  return f;
}

std::string vision_case(const std::string& c) {
  if (c == "c3_text_padbox" || c == "c1_text_boxes") return "c0_hf_text_only";
  if (c == "c4_batch2_text_padbox") return "c2_batch2_padded_boxes";
  return c;
}

at::Tensor prompt_valid(const Fixture& fx, const std::string& c) {
  at::Tensor text = fx.input(c + ".attention_mask").ne(0);
  const std::string geo = c + ".geometry_encoder.attention_mask";
  return fx.has_intermediate(geo) ? at::cat({text, fx.intermediate(geo).to(at::kBool)}, 1) : text;
}

}  // namespace sam3rt::testing
