// 2-D axial rotary position embedding (RoPE) of SAM 3: the ViT's blocks (architecture §2;
// transformers Sam3ViTRotaryEmbedding, apply_rotary_pos_emb_2d) and the tracker's memory
// attention (§10.5).
//
// A head of width d holds d/2 interleaved pairs (dims 2j, 2j+1), each rotated as a complex
// number: (a, b) -> (a cos t - b sin t, a sin t + b cos t). With q = d/4, pairs 0..q-1
// rotate by the token's column (x) and pairs q..2q-1 by its row (y); pair j (mod q) has
// frequency theta^(-4j/d), so t = position * scale * theta^(-4j/d). Tokens of an h x w grid
// are row-major: token i sits at x = i mod w, y = i div w. The tables and the rotation are
// computed in float32 whatever the activations' dtype, as the reference does.
#pragma once

#include <ATen/core/Tensor.h>

namespace sam3rt::nn {

struct RopeTable {
  at::Tensor cos, sin;  // [N, d/2] float32, one angle per token and pair
  at::Tensor phase;     // [N, d/2] complex64 = cos + i sin (what apply_rope multiplies by)

  RopeTable() = default;
  RopeTable(at::Tensor cos, at::Tensor sin);

  int64_t num_tokens() const { return cos.size(0); }
  int64_t head_dim() const { return 2 * cos.size(1); }
  // The same table on `device` (itself when it is already there).
  RopeTable to(const at::Device& device) const;
};

// The table of an h x w token grid for heads of width head_dim (a multiple of 4).
// scale multiplies the integer grid positions: 1 for plain RoPE, window / grid for the
// ViT's global blocks ("interpolated" RoPE). Built on the CPU.
RopeTable rope_axial_table(int64_t h, int64_t w, int64_t head_dim, double theta, double scale = 1.0);

// Rotates x [..., N, d] (any leading dims; N and d as in the table) token by token.
// Returns a new tensor of x's dtype and device; the table must be on x's device.
at::Tensor apply_rope(const at::Tensor& x, const RopeTable& table);

// In place: x [B, N, H, d] float32 (tokens before heads: a projection's output viewed per
// head, last axis contiguous) rotated token by token and multiplied by `scale` (attention's
// 1/sqrt(d) folded into the queries). The same values as apply_rope(x.transpose(1, 2)) *
// scale, without a copy.
void apply_rope_tokens_heads_(const at::Tensor& x, const RopeTable& table, double scale = 1.0);

}  // namespace sam3rt::nn
