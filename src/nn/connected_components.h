// Connected components of binary masks (8-connectivity: pixels touching at an edge or a
// corner belong together), the building block of SAM 3's hole filling and sprinkle removal
// (architecture §10.8; Meta's fill_holes_in_mask_scores). Our own two-pass union-find,
// run on the CPU (the masks are small low-resolution grids).
//
// Thread-safety: plain functions; safe to call concurrently.
#pragma once

#include <ATen/core/Tensor.h>

namespace sam3rt::nn {

// mask [..., H, W] (bool, or any dtype where nonzero is foreground); every H x W slice is
// labelled on its own. Returns int32 of the same shape on the mask's device: for each
// foreground pixel the area (pixel count) of its component, 0 for background pixels.
at::Tensor connected_component_areas(const at::Tensor& mask);

// The same, with the components' labels: 1, 2, ... per slice in raster order of each
// component's first pixel, 0 for background.
at::Tensor connected_component_labels(const at::Tensor& mask);

}  // namespace sam3rt::nn
