// Sine position encodings of the DETR family (architecture §3, §5, §7; transformers
// Sam3SinePositionEmbedding). Channel k of an encoded value v is sin(v * scale / d_k)
// for even k and cos(v * scale / d_k) for odd k, with d_k = T^(2 floor(k/2) / n).
#pragma once

#include <ATen/core/Tensor.h>

#include <cmath>

namespace sam3rt::nn {

constexpr double kTwoPi = 2.0 * M_PI;

// values [...] -> [..., num_feats].
at::Tensor sine_encode(const at::Tensor& values, int64_t num_feats, double temperature = 10000.0,
                       double scale = kTwoPi);

// Normalised grid encoding of an h x w map: row i is encoded as (i + 1) / (h + 1e-6) * 2pi
// and column j likewise; output [1, channels, h, w] = [encode(y) (channels/2) | encode(x)].
at::Tensor sine_position_grid(int64_t h, int64_t w, int64_t channels, const at::TensorOptions& options);

// Boxes [..., 4] (cx, cy, w, h) -> [..., 4 * num_feats] laid out [cy | cx | w | h].
at::Tensor sine_encode_boxes(const at::Tensor& boxes, int64_t num_feats);

}  // namespace sam3rt::nn
