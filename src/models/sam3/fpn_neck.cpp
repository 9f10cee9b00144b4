#include "models/sam3/fpn_neck.h"

#include <ATen/ops/gelu.h>
#include <ATen/ops/max_pool2d.h>

#include "sam3rt/error.h"

namespace sam3rt::models {

FpnNeck::FpnNeck(const VisionConfig& c, const io::WeightScope& s) {
  const int64_t D = c.backbone.hidden_size;
  const int64_t F = c.fpn_hidden_size;
  for (size_t i = 0; i < c.scale_factors.size(); ++i) {
    io::WeightScope ls = s.sub("fpn_layers", static_cast<int64_t>(i));
    FpnLevel level;
    level.scale = c.scale_factors[i];
    int64_t channels = D;
    if (level.scale == 4.0) {
      level.upsample.emplace_back(ls.sub("scale_layers", 0), D, D / 2, 2, 2);
      level.upsample.emplace_back(ls.sub("scale_layers", 2), D / 2, D / 4, 2, 2);
      channels = D / 4;
    } else if (level.scale == 2.0) {
      level.upsample.emplace_back(ls.sub("scale_layers", 0), D, D / 2, 2, 2);
      channels = D / 2;
    }
    level.proj1 = nn::Conv2d(ls.sub("proj1"), channels, F, 1);
    level.proj2 = nn::Conv2d(ls.sub("proj2"), F, F, 3, 1, 1);
    levels_.push_back(std::move(level));
  }
}

std::vector<at::Tensor> FpnNeck::forward(const at::Tensor& vit, bool all_levels) const {
  std::vector<at::Tensor> out;
  for (const auto& level : levels_) {
    if (level.scale < 1.0 && !all_levels) continue;  // dropped by every consumer (scalp = 1)
    at::Tensor h = vit;
    if (level.scale == 0.5) h = at::max_pool2d(h, {2, 2}, {2, 2});
    for (size_t j = 0; j < level.upsample.size(); ++j) {
      h = level.upsample[j].forward(h);
      if (j + 1 < level.upsample.size()) h = at::gelu(h);
    }
    out.push_back(level.proj2.forward(level.proj1.forward(h)));
  }
  return out;
}

}  // namespace sam3rt::models
