// Visualisation: instance masks blended over the image in distinct colours, box
// outlines, and "prompt score" labels (labels need the OpenCV build).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <vector>

#include "sam3rt/types.h"

namespace sam3rt::render {

// A distinct colour for instance i (RGB).
std::array<uint8_t, 3> instance_color(size_t i);

// rgb [H, W, 3] uint8 -> a new [H, W, 3] uint8 image with every instance drawn.
at::Tensor draw_overlay(const at::Tensor& rgb, const std::vector<Instance>& instances, float alpha = 0.5f);

}  // namespace sam3rt::render
