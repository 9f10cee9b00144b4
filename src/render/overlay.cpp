#include "sam3rt/image.h"

#include <ATen/ops/tensor.h>
#include <ATen/ops/where.h>

#include <algorithm>
#include <cstdio>

#ifdef SAM3RT_HAVE_OPENCV
#include <opencv2/imgproc.hpp>
#endif

#include "sam3rt/error.h"

namespace sam3rt {

std::array<uint8_t, 3> instance_color(size_t i) {
  // A fixed palette of well-separated hues, then golden-angle hues beyond it.
  static const uint8_t kPalette[][3] = {{230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200},
                                        {245, 130, 48}, {145, 30, 180}, {70, 240, 240}, {240, 50, 230},
                                        {210, 245, 60}, {250, 190, 212}, {0, 128, 128}, {220, 190, 255}};
  constexpr size_t kN = sizeof(kPalette) / sizeof(kPalette[0]);
  if (i < kN) return {kPalette[i][0], kPalette[i][1], kPalette[i][2]};
  const double h = std::fmod(i * 137.508, 360.0) / 60.0;
  const double x = 1.0 - std::fabs(std::fmod(h, 2.0) - 1.0);
  double r = 0, g = 0, b = 0;
  switch (static_cast<int>(h)) {
    case 0: r = 1; g = x; break;
    case 1: r = x; g = 1; break;
    case 2: g = 1; b = x; break;
    case 3: g = x; b = 1; break;
    case 4: r = x; b = 1; break;
    default: r = 1; b = x; break;
  }
  return {static_cast<uint8_t>(40 + 215 * r), static_cast<uint8_t>(40 + 215 * g), static_cast<uint8_t>(40 + 215 * b)};
}

at::Tensor draw_overlay(const at::Tensor& rgb, const std::vector<Instance>& instances, float alpha) {
  SAM3RT_CHECK(rgb.dim() == 3 && rgb.size(2) == 3 && rgb.scalar_type() == at::kByte, kInvalidArgument,
               "overlay needs an [H, W, 3] uint8 image");
  const int64_t H = rgb.size(0), W = rgb.size(1);
  at::Tensor out = rgb.to(at::kFloat).cpu();
  for (size_t i = 0; i < instances.size(); ++i) {
    const auto& inst = instances[i];
    if (!inst.mask.defined() || inst.mask.size(0) != H || inst.mask.size(1) != W) continue;
    const auto c = instance_color(i);
    at::Tensor color = at::tensor(std::vector<float>{float(c[0]), float(c[1]), float(c[2])}).view({1, 1, 3});
    at::Tensor blended = out.mul(1.0f - alpha).add(color.mul(alpha));
    out = at::where(inst.mask.cpu().unsqueeze(-1), blended, out);
  }
  out = out.round().clamp(0, 255).to(at::kByte).contiguous();

  // Box outlines, 2 px (or 1 px on tiny images), inside the image.
  const int64_t t = std::max<int64_t>(1, std::min<int64_t>(2, std::min(H, W) / 100));
  for (size_t i = 0; i < instances.size(); ++i) {
    const auto& b = instances[i].box;
    const auto c = instance_color(i);
    at::Tensor color = at::tensor(std::vector<uint8_t>{c[0], c[1], c[2]}, at::TensorOptions().dtype(at::kByte));
    const int64_t x1 = std::clamp<int64_t>(static_cast<int64_t>(b.x1), 0, W - 1);
    const int64_t y1 = std::clamp<int64_t>(static_cast<int64_t>(b.y1), 0, H - 1);
    const int64_t x2 = std::clamp<int64_t>(static_cast<int64_t>(b.x2), 0, W - 1);
    const int64_t y2 = std::clamp<int64_t>(static_cast<int64_t>(b.y2), 0, H - 1);
    if (x2 < x1 || y2 < y1) continue;
    out.slice(0, y1, std::min(y1 + t, y2 + 1)).slice(1, x1, x2 + 1).copy_(color.view({1, 1, 3}).expand({-1, -1, 3}));
    out.slice(0, std::max(y1, y2 - t + 1), y2 + 1).slice(1, x1, x2 + 1).copy_(color.view({1, 1, 3}).expand({-1, -1, 3}));
    out.slice(0, y1, y2 + 1).slice(1, x1, std::min(x1 + t, x2 + 1)).copy_(color.view({1, 1, 3}).expand({-1, -1, 3}));
    out.slice(0, y1, y2 + 1).slice(1, std::max(x1, x2 - t + 1), x2 + 1).copy_(color.view({1, 1, 3}).expand({-1, -1, 3}));
  }

#ifdef SAM3RT_HAVE_OPENCV
  cv::Mat mat(static_cast<int>(H), static_cast<int>(W), CV_8UC3, out.data_ptr<uint8_t>());
  const double scale = std::max(0.4, std::min(H, W) / 900.0);
  for (size_t i = 0; i < instances.size(); ++i) {
    const auto& inst = instances[i];
    char label[160];
    std::snprintf(label, sizeof(label), "%s %.2f", inst.prompt.c_str(), inst.score);
    const auto c = instance_color(i);
    int baseline = 0;
    const cv::Size size = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline);
    const int x = std::clamp(static_cast<int>(inst.box.x1), 0, std::max(0, static_cast<int>(W) - size.width));
    const int y = std::clamp(static_cast<int>(inst.box.y1) - 4, size.height + 2, static_cast<int>(H) - 2);
    cv::rectangle(mat, cv::Point(x, y - size.height - 2), cv::Point(x + size.width + 2, y + baseline),
                  cv::Scalar(c[0], c[1], c[2]), cv::FILLED);
    cv::putText(mat, label, cv::Point(x + 1, y), cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
#endif
  return out;
}

}  // namespace sam3rt
