// The ViT trunk against the reference fixtures (every recorded intermediate, batch 1 and
// batch 2, image and tracker checkpoints), the RoPE tables against their formula, and a
// ViT whose window does not divide the grid against a float64 token-by-token model.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "io/config.h"
#include "io/weights.h"
#include "models/modules.h"
#include "models/sam3/vision_backbone.h"
#include "nn/rope.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

using testing::Fixture;
using testing::WorstRelL2;

// Runs the ViT on `kase`'s pixels and checks every intermediate the fixture recorded.
void check_case(const Fixture& fx, const models::VisionBackbone& vit, const std::string& kase, bool all_layers) {
  const VitConfig& c = vit.config();
  const std::string pre = kase + ".vision_encoder.backbone.";
  const at::Tensor pixels = fx.input(kase + ".pixel_values");
  const int64_t B = pixels.size(0), G = c.grid(), D = c.hidden_size;
  models::VitTrace trace;
  const at::Tensor out = vit.forward(pixels, &trace);  // [B, D, G, G]
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{B, D, G, G}));
  ASSERT_TRUE(out.is_contiguous());

  if (all_layers) {
    WorstRelL2 emb(kase + " embeddings + ln_pre");
    emb.check(trace.embeddings, fx.intermediate(pre + "embeddings"), "embeddings");
    emb.check(trace.ln_pre, fx.intermediate(pre + "layer_norm"), "layer_norm");
    ASSERT_EQ(static_cast<int64_t>(trace.layers.size()), c.num_hidden_layers);
    WorstRelL2 layers(kase + " layers.*");
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      const std::string name = pre + "layers." + std::to_string(i);
      ASSERT_TRUE(fx.has_intermediate(name)) << name;
      layers.check(trace.layers[i], fx.intermediate(name), name);
    }
  }
  WorstRelL2 last(kase + " last_hidden_state");
  last.check(out.permute({0, 2, 3, 1}).reshape({B, G * G, D}), fx.intermediate(pre + "last_hidden_state"),
             "last_hidden_state");
}

TEST(VisionBackbone, MatchesReferenceBatch1) {
  const Fixture fx("sam3-tiny-seed0/sam3_image");
  const testing::BoundModel b = testing::bind_model(fx.dir());
  ASSERT_TRUE(b.modules->vision_backbone.has_value());
  check_case(fx, *b.modules->vision_backbone, "c0_hf_text_only", true);
}

TEST(VisionBackbone, MatchesReferenceBatch2) {
  const Fixture fx("sam3-tiny-seed0/sam3_image");
  const testing::BoundModel b = testing::bind_model(fx.dir());
  check_case(fx, *b.modules->vision_backbone, "c2_batch2_padded_boxes", true);
}

TEST(VisionBackbone, MatchesReferenceTrackerCheckpoint) {
  const Fixture fx("sam3-tiny-seed0/sam3_tracker");
  const testing::BoundModel b = testing::bind_model(fx.dir());
  ASSERT_TRUE(b.modules->vision_backbone.has_value());
  check_case(fx, *b.modules->vision_backbone, "t0_points_box", false);
}

TEST(VisionBackbone, RejectsPixelsOfTheWrongShape) {
  const Fixture fx("sam3-tiny-seed0/sam3_image");
  const testing::BoundModel b = testing::bind_model(fx.dir());
  const models::VisionBackbone& vit = *b.modules->vision_backbone;
  const int64_t S = vit.config().image_size;
  const std::vector<std::vector<int64_t>> bad = {{1, 3, S, S + 14}, {1, 1, S, S}, {3, S, S}, {0, 3, S, S}};
  for (const auto& shape : bad) {
    try {
      vit.forward(at::zeros(shape));
      ADD_FAILURE() << "no error for pixels " << at::IntArrayRef(shape);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    }
  }
}

// ---------------------------------------------------------------------------------------
// RoPE tables against the formula.

TEST(Rope, TableFollowsTheAxialFormula) {
  const int64_t h = 3, w = 5, d = 12;
  const double theta = 100.0, scale = 0.75;
  const nn::RopeTable t = nn::rope_axial_table(h, w, d, theta, scale);
  ASSERT_EQ(t.cos.sizes(), (std::vector<int64_t>{h * w, d / 2}));
  ASSERT_EQ(t.sin.sizes(), (std::vector<int64_t>{h * w, d / 2}));
  const int64_t q = d / 4;
  for (int64_t i = 0; i < h * w; ++i) {
    for (int64_t j = 0; j < d / 2; ++j) {
      const double pos = j < q ? static_cast<double>(i % w) : static_cast<double>(i / w);
      const double angle = pos * scale * std::pow(theta, -4.0 * static_cast<double>(j % q) / static_cast<double>(d));
      EXPECT_NEAR(t.cos[i][j].item<double>(), std::cos(angle), 1e-6) << i << "," << j;
      EXPECT_NEAR(t.sin[i][j].item<double>(), std::sin(angle), 1e-6) << i << "," << j;
    }
  }
}

TEST(Rope, RotatesInterleavedPairs) {
  const int64_t h = 2, w = 3, d = 8;
  const nn::RopeTable t = nn::rope_axial_table(h, w, d, 10000.0);
  auto gen = at::detail::createCPUGenerator(7);
  // A transposed (non-contiguous) input, as heads come out of a projection.
  const at::Tensor x = at::randn({2, h * w, 3, d}, gen).transpose(1, 2);  // [2, 3, N, d]
  const at::Tensor y = nn::apply_rope(x, t);
  ASSERT_EQ(y.sizes(), x.sizes());
  for (int64_t n = 0; n < h * w; ++n) {
    for (int64_t j = 0; j < d / 2; ++j) {
      const at::Tensor a = x.select(2, n).select(-1, 2 * j), b = x.select(2, n).select(-1, 2 * j + 1);
      const double cs = t.cos[n][j].item<double>(), sn = t.sin[n][j].item<double>();
      EXPECT_TRUE(y.select(2, n).select(-1, 2 * j).allclose(a.mul(cs).sub(b.mul(sn)), 1e-5, 1e-6)) << n << "," << j;
      EXPECT_TRUE(y.select(2, n).select(-1, 2 * j + 1).allclose(a.mul(sn).add(b.mul(cs)), 1e-5, 1e-6)) << n << "," << j;
    }
  }
  // Half inputs are rotated in float32 and come back as half.
  const at::Tensor yh = nn::apply_rope(x.to(at::kHalf), t);
  EXPECT_EQ(yh.scalar_type(), at::kHalf);
  EXPECT_TRUE(yh.to(at::kFloat).allclose(y, 1e-2, 1e-2));
}

TEST(Rope, RejectsHeadWidthsNotDivisibleByFour) {
  EXPECT_THROW(nn::rope_axial_table(2, 2, 6, 10000.0), Error);
}

// ---------------------------------------------------------------------------------------
// A ViT whose window does not divide the grid (padded windows) and whose pretrain grid
// does not divide it either (tiled, then cropped), against a float64 model written token
// by token: every window gathered explicitly, padding slots as zero vectors, angles from
// the formula.

struct Naive {
  VitConfig c;
  std::map<std::string, at::Tensor> w;  // float64 copies, by checkpoint name

  at::Tensor get(const std::string& name) const { return w.at(name); }

  // Rotates x [N, d] (one head) by the 2-D angles of positions (px, py).
  at::Tensor rotate(const at::Tensor& x, const std::vector<double>& px, const std::vector<double>& py) const {
    const int64_t N = x.size(0), d = x.size(1), q = d / 4;
    at::Tensor out = x.clone();
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t j = 0; j < d / 2; ++j) {
        const double pos = j < q ? px[n] : py[n];
        const double angle = pos * std::pow(c.rope_theta, -4.0 * static_cast<double>(j % q) / static_cast<double>(d));
        const double a = x[n][2 * j].item<double>(), b = x[n][2 * j + 1].item<double>();
        out[n][2 * j].fill_(a * std::cos(angle) - b * std::sin(angle));
        out[n][2 * j + 1].fill_(a * std::sin(angle) + b * std::cos(angle));
      }
    }
    return out;
  }

  // Self-attention of tokens [N, D] at positions (px, py) with the weights of `p`.
  at::Tensor attention(const std::string& p, const at::Tensor& t, const std::vector<double>& px,
                       const std::vector<double>& py) const {
    const int64_t H = c.num_attention_heads, d = c.head_dim();
    const at::Tensor q = at::linear(t, get(p + "q_proj.weight"), get(p + "q_proj.bias"));
    const at::Tensor k = at::linear(t, get(p + "k_proj.weight"), get(p + "k_proj.bias"));
    const at::Tensor v = at::linear(t, get(p + "v_proj.weight"), get(p + "v_proj.bias"));
    std::vector<at::Tensor> heads;
    for (int64_t h = 0; h < H; ++h) {
      const at::Tensor qh = rotate(q.slice(1, h * d, (h + 1) * d), px, py);
      const at::Tensor kh = rotate(k.slice(1, h * d, (h + 1) * d), px, py);
      const at::Tensor probs = at::softmax(qh.mm(kh.t()).div(std::sqrt(static_cast<double>(d))), -1);
      heads.push_back(probs.mm(v.slice(1, h * d, (h + 1) * d)));
    }
    return at::linear(at::cat(heads, 1), get(p + "o_proj.weight"), get(p + "o_proj.bias"));
  }

  at::Tensor ln(const std::string& p, const at::Tensor& x) const {
    return at::layer_norm(x, {c.hidden_size}, get(p + "weight"), get(p + "bias"), c.layer_norm_eps);
  }

  // x [B, G, G, D] -> the block's output.
  at::Tensor layer(int64_t i, const at::Tensor& x) const {
    const std::string p = "vit.layers." + std::to_string(i) + ".";
    const int64_t B = x.size(0), G = x.size(1), D = x.size(3), win = c.window_size;
    const bool global = std::count(c.global_attn_indexes.begin(), c.global_attn_indexes.end(), i) > 0;
    const at::Tensor h = ln(p + "layer_norm1.", x);
    at::Tensor attn = at::zeros_like(x);
    for (int64_t b = 0; b < B; ++b) {
      if (global) {
        std::vector<double> px, py;
        for (int64_t r = 0; r < G; ++r) {
          for (int64_t col = 0; col < G; ++col) {
            px.push_back(static_cast<double>(col) * win / G);
            py.push_back(static_cast<double>(r) * win / G);
          }
        }
        attn[b].copy_(attention(p + "attention.", h[b].reshape({G * G, D}), px, py).view({G, G, D}));
        continue;
      }
      for (int64_t r0 = 0; r0 < G; r0 += win) {
        for (int64_t c0 = 0; c0 < G; c0 += win) {
          at::Tensor tokens = at::zeros({win * win, D}, x.options());
          std::vector<double> px, py;
          for (int64_t i2 = 0; i2 < win; ++i2) {
            for (int64_t j2 = 0; j2 < win; ++j2) {
              if (r0 + i2 < G && c0 + j2 < G) tokens[i2 * win + j2].copy_(h[b][r0 + i2][c0 + j2]);
              px.push_back(static_cast<double>(j2));
              py.push_back(static_cast<double>(i2));
            }
          }
          const at::Tensor o = attention(p + "attention.", tokens, px, py);
          for (int64_t i2 = 0; i2 < win; ++i2) {
            for (int64_t j2 = 0; j2 < win; ++j2) {
              if (r0 + i2 < G && c0 + j2 < G) attn[b][r0 + i2][c0 + j2].copy_(o[i2 * win + j2]);
            }
          }
        }
      }
    }
    const at::Tensor y = x.add(attn);
    const at::Tensor m = at::linear(at::gelu(at::linear(ln(p + "layer_norm2.", y), get(p + "mlp.fc1.weight"),
                                                        get(p + "mlp.fc1.bias"))),
                                    get(p + "mlp.fc2.weight"), get(p + "mlp.fc2.bias"));
    return y.add(m);
  }

  // pixels [B, C, S, S] -> embeddings [B, G, G, D].
  at::Tensor embeddings(const at::Tensor& pixels) const {
    const int64_t B = pixels.size(0), G = c.grid(), P = c.pretrain_grid(), D = c.hidden_size, p = c.patch_size;
    const at::Tensor kernel = get("vit.embeddings.patch_embeddings.projection.weight").reshape({D, -1});
    const at::Tensor table = get("vit.embeddings.position_embeddings")[0];  // [P*P, D]
    at::Tensor out = at::zeros({B, G, G, D}, pixels.options());
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t r = 0; r < G; ++r) {
        for (int64_t col = 0; col < G; ++col) {
          const at::Tensor patch =
              pixels[b].slice(1, r * p, (r + 1) * p).slice(2, col * p, (col + 1) * p).reshape({-1});
          out[b][r][col].copy_(kernel.mv(patch).add(table[(r % P) * P + col % P]));
        }
      }
    }
    return out;
  }
};

void check_against_naive(const VitConfig& c, int64_t batch) {
  // Random weights in the checkpoint's names and shapes (scaled like the fixtures).
  io::WeightStore declared = io::WeightStore::declare_only();
  const models::VisionBackbone shapes_only(c, declared.scope("vit"));
  auto gen = at::detail::createCPUGenerator(1234);
  std::map<std::string, at::Tensor> weights;
  Naive naive{c, {}};
  for (const auto& e : declared.expected()) {
    at::Tensor t = at::randn(e.shape, gen);
    const bool is_bias = e.name.size() > 4 && e.name.compare(e.name.size() - 4, 4, "bias") == 0;
    if (e.shape.size() >= 2) {
      int64_t fan_in = 1;
      for (size_t i = 1; i < e.shape.size(); ++i) fan_in *= e.shape[i];
      t.mul_(e.shape[0] == 1 ? 0.2 : 1.0 / std::sqrt(static_cast<double>(fan_in)));
    } else {
      t.mul_(0.1);
      if (!is_bias) t.add_(1.0);
    }
    weights[e.name] = t;
    naive.w[e.name] = t.to(at::kDouble);
  }
  io::WeightStore store(weights);
  const models::VisionBackbone vit(c, store.scope("vit"));
  store.finish("random ViT");

  const at::Tensor pixels = at::randn({batch, c.num_channels, c.image_size, c.image_size}, gen);
  models::VitTrace trace;
  const at::Tensor out = vit.forward(pixels, &trace);
  const int64_t G = c.grid(), D = c.hidden_size;
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{batch, D, G, G}));

  WorstRelL2 worst("naive float64 ViT, grid " + std::to_string(G) + " window " + std::to_string(c.window_size) +
              " pretrain " + std::to_string(c.pretrain_grid()));
  at::Tensor x = naive.embeddings(pixels.to(at::kDouble));
  worst.check(trace.embeddings, x.view({batch, G * G, D}), "embeddings", 1e-5);
  x = naive.ln("vit.layer_norm.", x);
  worst.check(trace.ln_pre, x, "ln_pre", 1e-5);
  ASSERT_EQ(static_cast<int64_t>(trace.layers.size()), c.num_hidden_layers);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    x = naive.layer(i, x);
    worst.check(trace.layers[i], x, "layer " + std::to_string(i), 1e-5);
  }
  worst.check(out, x.permute({0, 3, 1, 2}), "output", 1e-5);
}

VitConfig small_config(int64_t grid, int64_t window, int64_t pretrain_grid, std::vector<int64_t> globals) {
  VitConfig c;
  c.hidden_size = 24;
  c.intermediate_size = 40;
  c.num_hidden_layers = 5;
  c.num_attention_heads = 2;  // head width 12
  c.patch_size = 14;
  c.image_size = grid * c.patch_size;
  c.pretrain_image_size = pretrain_grid * c.patch_size;
  c.window_size = window;
  c.global_attn_indexes = std::move(globals);
  c.rope_theta = 10000.0;
  c.layer_norm_eps = 1e-6;
  return c;
}

TEST(VisionBackbone, WindowNotDividingTheGridMatchesNaiveModel) {
  check_against_naive(small_config(13, 5, 6, {2, 4}), 2);  // 13 -> 15: 3 x 3 windows, last ones padded
}

TEST(VisionBackbone, WindowLargerThanTheGridMatchesNaiveModel) {
  check_against_naive(small_config(7, 9, 4, {1}), 1);  // one padded window; global RoPE scale 9/7
}

}  // namespace
}  // namespace sam3rt
