// RoIAlign (Mask R-CNN): average of bilinear samples over a regular grid in each output
// bin of a box. Used by the geometry encoder to pool the detector feature under each
// exemplar box (architecture §5). Semantics are those of torchvision.ops.roi_align:
//   - box corners are multiplied by spatial_scale (and shifted by -0.5 when aligned);
//   - when not aligned, a box is widened to at least 1 x 1 feature pixel;
//   - each of the out_h x out_w bins holds gh x gw samples, gh = sampling_ratio or, when
//     sampling_ratio <= 0, ceil(box_h / out_h) (gw likewise), at the bin's sub-cell centres;
//   - a sample with y < -1, y > H, x < -1 or x > W contributes 0; otherwise negative
//     coordinates are clamped to 0 and coordinates in the last row/column use that
//     row/column alone; the bin value is the sum divided by max(gh * gw, 1).
//
// Implementation: the sample positions and bilinear weights are computed on the host (in
// the input's precision, as torchvision does) and folded into a dense weight matrix per
// box, [out_h * out_w, H * W]; the pooling is then one matrix product per image on the
// input's device, so CPU and CUDA tensors both work. float and double are computed
// natively; half / bfloat16 are computed in float and cast back.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace sam3rt::nn {

// input [B, C, H, W] (any strides); boxes [K, 5] rows (batch_index, x1, y1, x2, y2) in
// input pixel units before spatial_scale (any device, any floating dtype).
// Returns [K, C, out_h, out_w] in the input's dtype and device. K may be 0.
at::Tensor roi_align(const at::Tensor& input, const at::Tensor& boxes, int64_t out_h, int64_t out_w,
                     double spatial_scale = 1.0, int64_t sampling_ratio = -1, bool aligned = false);

}  // namespace sam3rt::nn
