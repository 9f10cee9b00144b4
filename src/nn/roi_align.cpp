#include "nn/roi_align.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "sam3rt/error.h"

namespace sam3rt::nn {

namespace {

// Samples per bin and axis above which a box is rejected rather than pooled: such a box
// is millions of feature pixels wide and could only come from a malformed prompt.
constexpr int64_t kMaxSamplesPerBin = 1 << 20;

// Bilinear sampling separates into a row factor and a column factor: a sample at (y, x)
// contributes valid(y) valid(x) a_y (x) a_x, where a_y puts (1 - ly) on row y_low and ly on
// row y_high (a_x likewise). Summing over the bin's gh x gw samples therefore gives the
// outer product of the per-axis sums, and a bin's value is rows^T F cols / count.
//
// One axis of one box: fills weights [out, size] (zeroed by the caller) with the sum of
// the axis factors of the samples of each bin. `start`, `bin` and `grid` are the box's
// start, bin length and samples per bin along this axis. Positions are computed in T
// with the same expression and rounding as torchvision's kernels.
template <typename T>
void axis_weights(T start, T bin, int64_t grid, int64_t out, int64_t size, T* weights) {
  for (int64_t p = 0; p < out; ++p) {
    T* row = weights + p * size;
    for (int64_t i = 0; i < grid; ++i) {
      T v = start + static_cast<T>(p) * bin + static_cast<T>(static_cast<T>(i) + static_cast<T>(0.5)) * bin /
                                                  static_cast<T>(grid);
      // Outside [-1, size]: the sample contributes nothing.
      if (v < static_cast<T>(-1.0) || v > static_cast<T>(size)) continue;
      if (v <= 0) v = 0;
      int64_t low = static_cast<int64_t>(v);
      int64_t high;
      if (low >= size - 1) {
        high = low = size - 1;
        v = static_cast<T>(low);
      } else {
        high = low + 1;
      }
      const T l = v - static_cast<T>(low);
      const T h = static_cast<T>(1.0) - l;
      row[low] += h;
      row[high] += l;
    }
  }
}

template <typename T>
at::Tensor roi_align_impl(const at::Tensor& input, const at::Tensor& boxes, int64_t out_h, int64_t out_w,
                          double spatial_scale, int64_t sampling_ratio, bool aligned) {
  const int64_t B = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  const int64_t K = boxes.size(0);
  const at::ScalarType dtype = input.scalar_type();
  at::Tensor host_boxes = boxes.to(at::kCPU, dtype).contiguous();
  const T* rois = host_boxes.data_ptr<T>();

  // Per-box axis weights on the host: rows [K, out_h, H] (carrying 1 / count), cols [K, out_w, W].
  at::Tensor rows = at::zeros({K, out_h, H}, at::TensorOptions().dtype(dtype));
  at::Tensor cols = at::zeros({K, out_w, W}, at::TensorOptions().dtype(dtype));
  std::vector<std::vector<int64_t>> per_image(static_cast<size_t>(B));
  const T scale = static_cast<T>(spatial_scale);
  const T offset = aligned ? static_cast<T>(0.5) : static_cast<T>(0.0);
  for (int64_t k = 0; k < K; ++k) {
    const T* r = rois + k * 5;
    for (int j = 0; j < 5; ++j) {
      SAM3RT_CHECK(std::isfinite(static_cast<double>(r[j])), kInvalidArgument, "roi_align: box ", k,
                   " has a non-finite value");
    }
    const double b = static_cast<double>(r[0]);
    SAM3RT_CHECK(b >= 0 && b < static_cast<double>(B) && b == std::floor(b), kInvalidArgument, "roi_align: box ", k,
                 " has batch index ", b, ", input batch is ", B);
    per_image[static_cast<size_t>(b)].push_back(k);

    const T start_w = r[1] * scale - offset;
    const T start_h = r[2] * scale - offset;
    const T end_w = r[3] * scale - offset;
    const T end_h = r[4] * scale - offset;
    T roi_w = end_w - start_w;
    T roi_h = end_h - start_h;
    if (!aligned) {
      roi_w = std::max(roi_w, static_cast<T>(1.0));
      roi_h = std::max(roi_h, static_cast<T>(1.0));
    }
    const T bin_h = roi_h / static_cast<T>(out_h);
    const T bin_w = roi_w / static_cast<T>(out_w);
    const double ceil_h = std::ceil(static_cast<double>(roi_h / static_cast<T>(out_h)));
    const double ceil_w = std::ceil(static_cast<double>(roi_w / static_cast<T>(out_w)));
    SAM3RT_CHECK(sampling_ratio > 0 || (ceil_h <= kMaxSamplesPerBin && ceil_w <= kMaxSamplesPerBin),
                 kInvalidArgument, "roi_align: box ", k, " is too large (", static_cast<double>(roi_w), " x ",
                 static_cast<double>(roi_h), " feature pixels)");
    const int64_t grid_h = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(ceil_h);
    const int64_t grid_w = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(ceil_w);
    const int64_t count = std::max<int64_t>(grid_h * grid_w, 1);

    T* rk = rows.data_ptr<T>() + k * out_h * H;
    T* ck = cols.data_ptr<T>() + k * out_w * W;
    axis_weights<T>(start_h, bin_h, grid_h, out_h, H, rk);
    axis_weights<T>(start_w, bin_w, grid_w, out_w, W, ck);
    const T inv = static_cast<T>(1.0) / static_cast<T>(count);
    for (int64_t i = 0; i < out_h * H; ++i) rk[i] *= inv;
  }

  at::Tensor out = at::empty({K, C, out_h, out_w}, input.options());
  const at::Tensor rows_d = rows.to(input.device());
  const at::Tensor cols_t = cols.to(input.device()).transpose(1, 2);  // [K, W, out_w]
  for (int64_t b = 0; b < B; ++b) {
    const auto& ks = per_image[static_cast<size_t>(b)];
    if (ks.empty()) continue;
    const int64_t n = static_cast<int64_t>(ks.size());
    at::Tensor idx =
        at::from_blob(const_cast<int64_t*>(ks.data()), {n}, at::TensorOptions().dtype(at::kLong)).clone().to(input.device());
    // Rows first, over all channels at once: [n * out_h, H] x [H, C * W].
    at::Tensor feat = input.select(0, b).permute({1, 0, 2}).reshape({H, C * W});
    at::Tensor t = at::matmul(rows_d.index_select(0, idx).view({n * out_h, H}), feat);  // [n * out_h, C * W]
    // Then columns, per box: [n, out_h * C, W] x [n, W, out_w].
    at::Tensor pooled = at::matmul(t.view({n, out_h * C, W}), cols_t.index_select(0, idx));  // [n, out_h * C, out_w]
    pooled = pooled.view({n, out_h, C, out_w}).permute({0, 2, 1, 3});                     // [n, C, out_h, out_w]
    out.index_copy_(0, idx, pooled);
  }
  return out;
}

}  // namespace

at::Tensor roi_align(const at::Tensor& input, const at::Tensor& boxes, int64_t out_h, int64_t out_w,
                     double spatial_scale, int64_t sampling_ratio, bool aligned) {
  SAM3RT_CHECK(input.defined() && input.dim() == 4, kInvalidArgument, "roi_align: input must be [B, C, H, W]");
  SAM3RT_CHECK(boxes.defined() && boxes.dim() == 2 && boxes.size(1) == 5, kInvalidArgument,
               "roi_align: boxes must be [K, 5] (batch_index, x1, y1, x2, y2)");
  SAM3RT_CHECK(out_h > 0 && out_w > 0, kInvalidArgument, "roi_align: output size must be positive, got ", out_h, " x ",
               out_w);
  SAM3RT_CHECK(input.size(2) > 0 && input.size(3) > 0, kInvalidArgument, "roi_align: empty input feature map");
  SAM3RT_CHECK(boxes.is_floating_point(), kInvalidArgument, "roi_align: boxes must be floating point");
  switch (input.scalar_type()) {
    case at::kFloat:
      return roi_align_impl<float>(input, boxes, out_h, out_w, spatial_scale, sampling_ratio, aligned);
    case at::kDouble:
      return roi_align_impl<double>(input, boxes, out_h, out_w, spatial_scale, sampling_ratio, aligned);
    case at::kHalf:
    case at::kBFloat16:
      return roi_align_impl<float>(input.to(at::kFloat), boxes, out_h, out_w, spatial_scale, sampling_ratio, aligned)
          .to(input.scalar_type());
    default:
      SAM3RT_FAIL(kInvalidArgument, "roi_align: input must be floating point, got ", input.scalar_type());
  }
}

}  // namespace sam3rt::nn
