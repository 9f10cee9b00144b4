// From detector outputs to instances in original-image pixels (architecture §9, Meta's
// order): score = sigmoid(logit) * sigmoid(presence), threshold, masks = bilinear
// upsampling of the LOGITS to the image size then logit > 0, boxes scaled to pixels,
// optional greedy mask NMS, sorted by score.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "sam3rt/options.h"
#include "sam3rt/types.h"

namespace sam3rt::pipeline {

// One image's detector outputs: logits [Q], presence logit (0-d or [1]), boxes [Q, 4]
// normalised xyxy, mask logits [Q, h, w]; original size height x width.
std::vector<Instance> postprocess_detections(const at::Tensor& logits, const at::Tensor& presence_logit,
                                             const at::Tensor& boxes, const at::Tensor& mask_logits, int64_t height,
                                             int64_t width, const std::string& prompt, const SegmentOptions& options);

// Upsamples mask logits [N, h, w] to [N, height, width] (bilinear, align_corners false).
at::Tensor upsample_mask_logits(const at::Tensor& mask_logits, int64_t height, int64_t width);

// Tight pixel-corner box of a [H, W] bool mask (x2, y2 one past the last pixel); all
// zero when it is empty.
Box mask_box(const at::Tensor& mask);

// Greedy NMS on masks [N, H, W] bool sorted by score: indices to keep.
std::vector<int64_t> mask_nms(const at::Tensor& masks, float iou_threshold);

}  // namespace sam3rt::pipeline
