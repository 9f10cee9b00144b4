// nn::roi_align against a literal, slow transcription of torchvision's roi_align forward
// (per output bin, per sample, four-corner bilinear interpolation) written here.
#include "nn/roi_align.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "sam3rt/error.h"

namespace sam3rt {
namespace {

// One bilinear sample of channel c of image b, with torchvision's border rules.
double bilinear(const at::TensorAccessor<float, 4>& in, int64_t b, int64_t c, int64_t H, int64_t W, float y, float x) {
  if (y < -1.0f || y > static_cast<float>(H) || x < -1.0f || x > static_cast<float>(W)) return 0.0;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  int64_t y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x), y1, x1;
  if (y0 >= H - 1) {
    y0 = y1 = H - 1;
    y = static_cast<float>(y0);
  } else {
    y1 = y0 + 1;
  }
  if (x0 >= W - 1) {
    x0 = x1 = W - 1;
    x = static_cast<float>(x0);
  } else {
    x1 = x0 + 1;
  }
  const double ly = y - y0, lx = x - x0, hy = 1.0 - ly, hx = 1.0 - lx;
  return hy * hx * in[b][c][y0][x0] + hy * lx * in[b][c][y0][x1] + ly * hx * in[b][c][y1][x0] +
         ly * lx * in[b][c][y1][x1];
}

at::Tensor reference_roi_align(const at::Tensor& input, const at::Tensor& boxes, int64_t ph_n, int64_t pw_n,
                               float scale, int64_t sampling_ratio, bool aligned) {
  const at::Tensor in_c = input.contiguous();
  const auto in = in_c.accessor<float, 4>();
  const auto bx = boxes.accessor<float, 2>();
  const int64_t K = boxes.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  at::Tensor out = at::zeros({K, C, ph_n, pw_n}, at::kFloat);
  auto o = out.accessor<float, 4>();
  const float off = aligned ? 0.5f : 0.0f;
  for (int64_t k = 0; k < K; ++k) {
    const int64_t b = static_cast<int64_t>(bx[k][0]);
    const float x1 = bx[k][1] * scale - off, y1 = bx[k][2] * scale - off;
    float rw = bx[k][3] * scale - off - x1, rh = bx[k][4] * scale - off - y1;
    if (!aligned) {
      rw = std::max(rw, 1.0f);
      rh = std::max(rh, 1.0f);
    }
    const float bh = rh / static_cast<float>(ph_n), bw = rw / static_cast<float>(pw_n);
    const int64_t gh = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(rh / ph_n));
    const int64_t gw = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(rw / pw_n));
    const double count = static_cast<double>(std::max<int64_t>(gh * gw, 1));
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t ph = 0; ph < ph_n; ++ph) {
        for (int64_t pw = 0; pw < pw_n; ++pw) {
          double acc = 0.0;
          for (int64_t iy = 0; iy < gh; ++iy) {
            const float y = y1 + ph * bh + (iy + 0.5f) * bh / static_cast<float>(gh);
            for (int64_t ix = 0; ix < gw; ++ix) {
              const float x = x1 + pw * bw + (ix + 0.5f) * bw / static_cast<float>(gw);
              acc += bilinear(in, b, c, H, W, y, x);
            }
          }
          o[k][c][ph][pw] = static_cast<float>(acc / count);
        }
      }
    }
  }
  return out;
}

at::Tensor random_tensor(at::IntArrayRef sizes, uint64_t seed) {
  return at::randn(sizes, at::detail::createCPUGenerator(seed), at::TensorOptions().dtype(at::kFloat));
}

at::Tensor make_boxes(const std::vector<std::vector<float>>& rows) {
  at::Tensor t = at::empty({static_cast<int64_t>(rows.size()), 5}, at::kFloat);
  auto a = t.accessor<float, 2>();
  for (size_t i = 0; i < rows.size(); ++i) {
    for (int j = 0; j < 5; ++j) a[static_cast<int64_t>(i)][j] = rows[i][static_cast<size_t>(j)];
  }
  return t;
}

// Relative-L2 and max-abs agreement at float rounding level.
void expect_matches(const at::Tensor& ours, const at::Tensor& ref) {
  ASSERT_EQ(ours.sizes(), ref.sizes());
  const at::Tensor o = ours.to(at::kDouble), r = ref.to(at::kDouble);
  const double max_abs = o.sub(r).abs().max().item<double>();
  const double norm = r.norm().item<double>();
  EXPECT_LE(max_abs, 1e-5) << "max abs error";
  EXPECT_LE(o.sub(r).norm().item<double>(), 1e-6 * std::max(norm, 1.0));
}

// Boxes inside, partly and wholly outside, tiny, degenerate, inverted and image-sized, on
// both images of the batch.
std::vector<std::vector<float>> test_boxes() {
  return {
      {0, 1.3f, 2.2f, 7.9f, 6.4f},      // inside
      {1, 0.0f, 0.0f, 11.0f, 9.0f},     // the whole image
      {0, -3.5f, -2.0f, 4.2f, 3.1f},    // crosses the top-left border
      {1, 6.0f, 5.0f, 14.5f, 12.75f},   // crosses the bottom-right border
      {0, -9.0f, -8.0f, -2.5f, -1.5f},  // entirely above-left (all samples < -1)
      {1, 10.2f, 8.1f, 30.0f, 25.0f},   // mostly beyond the last row/column
      {0, 4.0f, 4.0f, 4.0f, 4.0f},      // zero size: widened to 1 x 1
      {1, 3.3f, 2.7f, 3.5f, 2.9f},      // tiny
      {0, 8.0f, 6.0f, 2.0f, 1.0f},      // inverted corners
      {1, -20.0f, -15.0f, 40.0f, 35.0f},// much larger than the image: many samples per bin
      {0, 0.25f, 0.5f, 10.75f, 8.5f},   // non-integer extent, several samples per bin
  };
}

TEST(RoiAlign, MatchesTorchvisionSemanticsAdaptiveSampling) {
  at::Tensor input = random_tensor({2, 3, 9, 11}, 0);
  at::Tensor boxes = make_boxes(test_boxes());
  for (const auto& [oh, ow] : std::vector<std::pair<int64_t, int64_t>>{{7, 7}, {5, 5}, {3, 4}, {1, 1}}) {
    SCOPED_TRACE(::testing::Message() << oh << "x" << ow);
    expect_matches(nn::roi_align(input, boxes, oh, ow, 1.0, -1, false),
                   reference_roi_align(input, boxes, oh, ow, 1.0f, -1, false));
  }
}

TEST(RoiAlign, SpatialScaleFixedSamplingAndAligned) {
  at::Tensor input = random_tensor({2, 4, 8, 6}, 1);
  at::Tensor boxes = make_boxes(test_boxes());
  expect_matches(nn::roi_align(input, boxes, 4, 3, 0.5, -1, false), reference_roi_align(input, boxes, 4, 3, 0.5f, -1, false));
  expect_matches(nn::roi_align(input, boxes, 4, 3, 1.0, 2, false), reference_roi_align(input, boxes, 4, 3, 1.0f, 2, false));
  expect_matches(nn::roi_align(input, boxes, 5, 5, 1.0, -1, true), reference_roi_align(input, boxes, 5, 5, 1.0f, -1, true));
  expect_matches(nn::roi_align(input, boxes, 2, 2, 0.25, 3, true), reference_roi_align(input, boxes, 2, 2, 0.25f, 3, true));
}

TEST(RoiAlign, NonContiguousInput) {
  // A channels-last view and a strided slice.
  at::Tensor nhwc = random_tensor({2, 9, 11, 3}, 2);
  at::Tensor input = nhwc.permute({0, 3, 1, 2});
  ASSERT_FALSE(input.is_contiguous());
  at::Tensor boxes = make_boxes(test_boxes());
  expect_matches(nn::roi_align(input, boxes, 7, 7), reference_roi_align(input, boxes, 7, 7, 1.0f, -1, false));

  at::Tensor big = random_tensor({2, 6, 18, 11}, 3);
  at::Tensor strided = big.slice(1, 0, 6, 2).slice(2, 0, 18, 2);  // [2, 3, 9, 11]
  ASSERT_FALSE(strided.is_contiguous());
  expect_matches(nn::roi_align(strided, boxes, 7, 7), reference_roi_align(strided, boxes, 7, 7, 1.0f, -1, false));
}

TEST(RoiAlign, ValueChecks) {
  // A constant map pools to the constant wherever the box lies inside; a box entirely
  // outside pools to 0.
  at::Tensor input = at::empty({1, 1, 5, 5}, at::kFloat).fill_(2.5);
  at::Tensor out = nn::roi_align(input, make_boxes({{0, 0.5f, 0.5f, 3.5f, 3.5f}, {0, -9, -9, -4, -4}}), 2, 2);
  EXPECT_NEAR(out[0].min().item<float>(), 2.5f, 1e-6);
  EXPECT_NEAR(out[0].max().item<float>(), 2.5f, 1e-6);
  EXPECT_EQ(out[1].abs().max().item<float>(), 0.0f);
}

TEST(RoiAlign, DoubleInputAndNoBoxes) {
  at::Tensor input = random_tensor({2, 3, 9, 11}, 4);
  at::Tensor boxes = make_boxes(test_boxes());
  at::Tensor d = nn::roi_align(input.to(at::kDouble), boxes.to(at::kDouble), 7, 7);
  EXPECT_EQ(d.scalar_type(), at::kDouble);
  expect_matches(d.to(at::kFloat), reference_roi_align(input, boxes, 7, 7, 1.0f, -1, false));

  at::Tensor none = nn::roi_align(input, at::empty({0, 5}, at::kFloat), 7, 7);
  EXPECT_EQ(none.sizes(), (std::vector<int64_t>{0, 3, 7, 7}));
}

TEST(RoiAlign, RejectsBadInput) {
  at::Tensor input = at::zeros({2, 3, 9, 11}, at::kFloat);
  const auto code_of = [&](const at::Tensor& boxes) {
    try {
      nn::roi_align(input, boxes, 7, 7);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kInternal;
  };
  EXPECT_EQ(code_of(make_boxes({{2, 0, 0, 1, 1}})), ErrorCode::kInvalidArgument);   // batch index out of range
  EXPECT_EQ(code_of(make_boxes({{-1, 0, 0, 1, 1}})), ErrorCode::kInvalidArgument);  // negative batch index
  EXPECT_EQ(code_of(make_boxes({{0.5f, 0, 0, 1, 1}})), ErrorCode::kInvalidArgument);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(code_of(make_boxes({{0, 0, nan, 1, 1}})), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(make_boxes({{0, 0, 0, 1e30f, 1}})), ErrorCode::kInvalidArgument);  // absurdly large
  EXPECT_EQ(code_of(at::zeros({3, 4}, at::kFloat)), ErrorCode::kInvalidArgument);
  EXPECT_THROW(nn::roi_align(at::zeros({3, 9, 11}, at::kFloat), make_boxes({{0, 0, 0, 1, 1}}), 7, 7), Error);
  EXPECT_THROW(nn::roi_align(input, make_boxes({{0, 0, 0, 1, 1}}), 0, 7), Error);
}

}  // namespace
}  // namespace sam3rt
