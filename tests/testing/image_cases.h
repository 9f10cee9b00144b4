// The cases of the sam3_image fixture (tests/data/sam3-tiny-seed0/sam3_image, refgen), as
// the detector module tests walk them.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "testing/fixture.h"

namespace sam3rt::testing {

// The sam3_image fixture with its checkpoint bound: made once per test binary.
struct ImageFixture {
  Fixture fx{"sam3-tiny-seed0/sam3_image"};
  BoundModel bound = bind_model(fx.dir());
};
const ImageFixture& image_fixture();

// Every case, in the fixture's order.
extern const std::vector<std::string> kImageCases;

// The case whose pixels (and recorded vision features) a case reuses: c1 / c3 those of
// c0, c4 those of c2.
std::string vision_case(const std::string& c);

// A case's prompt validity [B, L]: the text mask, then the geometry encoder's mask where
// it ran.
at::Tensor prompt_valid(const Fixture& fx, const std::string& c);

}  // namespace sam3rt::testing
