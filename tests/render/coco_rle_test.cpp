#include <gtest/gtest.h>

#include <ATen/ops/rand.h>
#include <ATen/ops/zeros.h>

#include "render/coco_rle.h"
#include "sam3rt/error.h"

namespace sam3rt::render {
namespace {

TEST(CocoRle, RunsAreColumnMajorAndStartWithZeros) {
  // 0 1 0
  // 0 1 0
  // 0 0 0   -> column-major 000 110 000 -> runs 3, 2, 4
  at::Tensor m = at::zeros({3, 3}, at::TensorOptions().dtype(at::kBool));
  m[0][1] = true;
  m[1][1] = true;
  EXPECT_EQ(rle_runs(m), (std::vector<uint32_t>{3, 2, 4}));
  EXPECT_EQ(encode_coco_rle(m).counts, "324");
  // A mask starting with a set pixel opens with an empty run of zeros.
  at::Tensor full = at::zeros({2, 2}, at::TensorOptions().dtype(at::kBool)).logical_not();
  EXPECT_EQ(rle_runs(full), (std::vector<uint32_t>{0, 4}));
  EXPECT_EQ(encode_coco_rle(full).counts, "04");
}

TEST(CocoRle, CompressedStringMatchesPycocotoolsEncoding) {
  // Worked by hand from pycocotools' rleToString: 5 bits a character with a
  // continuation bit, offset 48, counts after the second as deltas to i-2.
  EXPECT_EQ(rle_runs_to_string({5, 40, 3, 100}), "5X13l1");
  EXPECT_EQ(rle_runs_to_string({1, 50, 2, 10}), "1b12hN");
  EXPECT_EQ(rle_string_to_runs("5X13l1"), (std::vector<uint32_t>{5, 40, 3, 100}));
  EXPECT_EQ(rle_string_to_runs("1b12hN"), (std::vector<uint32_t>{1, 50, 2, 10}));
}

TEST(CocoRle, RoundTripsRandomMasks) {
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t h = 1 + trial * 7, w = 3 + trial * 5;
    at::Tensor m = at::rand({h, w}).gt(0.3 + 0.02 * trial);
    const CocoRle rle = encode_coco_rle(m);
    EXPECT_EQ(rle.height, h);
    EXPECT_EQ(rle.width, w);
    EXPECT_TRUE(decode_coco_rle(rle).equal(m)) << trial;
  }
}

TEST(CocoRle, RejectsMalformedCounts) {
  EXPECT_THROW(decode_coco_rle({2, 2, "9"}), Error);      // covers 9 of 4 pixels
  EXPECT_THROW(decode_coco_rle({2, 2, "3"}), Error);      // covers 3 of 4
  EXPECT_THROW(rle_string_to_runs("X"), Error);           // ends inside a number
  EXPECT_THROW(rle_string_to_runs(std::string(1, '\x7f')), Error);
  // Sizes whose runs do not cover them are refused before the mask is allocated (10^10
  // pixels here), and sizes whose product overflows are refused outright.
  EXPECT_THROW(decode_coco_rle({100000, 100000, ""}), Error);
  EXPECT_THROW(decode_coco_rle({int64_t{1} << 40, int64_t{1} << 40, "0"}), Error);
  EXPECT_THROW(decode_coco_rle({-1, 4, ""}), Error);
  EXPECT_TRUE(decode_coco_rle({0, 0, ""}).numel() == 0);
}

}  // namespace
}  // namespace sam3rt::render
