#include "models/sam2/fpn_neck.h"

#include <ATen/ops/upsample_nearest2d.h>

#include <algorithm>
#include <string>

#include "nn/position_encoding.h"
#include "sam3rt/error.h"

namespace sam3rt::models {

Sam2FpnNeck::Sam2FpnNeck(const HieraVisionConfig& c, const io::WeightScope& s)
    : top_down_levels_(c.fpn_top_down_levels), num_feature_levels_(c.num_feature_levels) {
  for (size_t k = 0; k < c.backbone_channel_list.size(); ++k) {
    convs_.emplace_back(s.sub("convs", static_cast<int64_t>(k)), c.backbone_channel_list[k], c.fpn_hidden_size,
                        c.fpn_kernel_size, c.fpn_stride, c.fpn_padding);
  }
}

std::vector<at::Tensor> Sam2FpnNeck::forward(const std::vector<at::Tensor>& stages, Trace* trace) const {
  const auto n = static_cast<int64_t>(convs_.size());
  SAM3RT_CHECK(static_cast<int64_t>(stages.size()) == n, kInvalidArgument, "the SAM 2 neck takes ", n,
               " stage maps, got ", stages.size());
  std::vector<at::Tensor> coarse_to_fine;
  at::Tensor prev;
  for (int64_t i = n - 1; i >= 0; --i) {
    at::Tensor lateral = convs_[n - 1 - i].forward(stages[i].permute({0, 3, 1, 2}));  // [B, F, h_i, w_i]
    const bool fuse = i != n - 1 && std::find(top_down_levels_.begin(), top_down_levels_.end(), i) !=
                                        top_down_levels_.end();
    if (fuse) {
      const at::Tensor up = at::upsample_nearest2d(prev.to(at::kFloat), {2 * prev.size(2), 2 * prev.size(3)}, 2.0, 2.0);
      SAM3RT_CHECK(up.size(2) == lateral.size(2) && up.size(3) == lateral.size(3), kInvalidArgument,
                   "SAM 2 neck: stage ", i, " is not twice the size of stage ", i + 1);
      prev = lateral.add(up.to(lateral.scalar_type()));
    } else {
      prev = lateral;
    }
    coarse_to_fine.push_back(prev);
  }
  if (trace != nullptr) {
    for (size_t j = 0; j < coarse_to_fine.size(); ++j) {
      const at::Tensor& l = coarse_to_fine[j];
      record(trace, "vision_encoder.neck.0." + std::to_string(j), l);
      record(trace, "vision_encoder.neck.1." + std::to_string(j),
             nn::sine_position_grid(l.size(2), l.size(3), l.size(1), l.options()).expand({l.size(0), -1, -1, -1}));
    }
  }
  // The finest num_feature_levels levels, fine to coarse.
  std::vector<at::Tensor> levels(coarse_to_fine.rbegin(), coarse_to_fine.rbegin() + num_feature_levels_);
  return levels;
}

}  // namespace sam3rt::models
