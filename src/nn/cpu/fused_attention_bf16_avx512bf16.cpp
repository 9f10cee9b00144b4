// The fused attention kernel with bf16 products (compiled with -mavx512bf16; called only
// after fused_attention.cpp has checked the CPU). The same online-softmax blocking as the
// float32 kernel (fused_attention_kernel.inc): inputs and output stay float32; q * scale,
// K and V are rounded to bf16 once when packed, each block's probabilities P are rounded
// to bf16 after the float32 softmax step, and both products accumulate in float32 with
// vdpbf16ps (two bf16 products per float32 lane). The row sums use the float32 P.
//
// Packed layouts, one 32-bit word = a bf16 pair:
//   Q rows:    [row][d pair]                 (pair over the head dimension)
//   K:         [key block][d pair][kb keys]  (pair over the head dimension)
//   P rows:    [row][key pair]               (pair over keys)
//   V:         [key pair][dvp]               (pair over keys), zero past Nk and dv
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "nn/cpu/fused_attention.h"
#include "nn/cpu/parallel.h"
#include "nn/cpu/vec_avx512.h"

namespace sam3rt::nn::cpu {
namespace {

using V = VecAvx512;

constexpr int kRows = 48;      // query rows per task
constexpr int kKeys = 256;     // keys per block (even)
constexpr int kScoreRows = 6;  // score micro-kernel: 6 rows x 32 keys
constexpr int kPvRows = 4;     // P V micro-kernel: 4 rows x up to 4 registers of dv

inline uint32_t bf16_pair(float lo, float hi) {
  // Round to nearest even, as vcvtne2ps2bf16 does (inputs here are finite).
  auto round = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return u >> 16;
  };
  return round(lo) | (round(hi) << 16);
}

// n floats (n even) -> n / 2 bf16 pairs.
void to_pairs(const float* src, int64_t n, uint32_t* dst) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
    _mm512_storeu_si512(dst + i / 2, (__m512i)v);
  }
  for (; i < n; i += 2) dst[i / 2] = bf16_pair(src[i], src[i + 1]);
}

template <int R>
inline void score_tile(const uint32_t* qs, int64_t dp, const uint32_t* kt, int64_t kb, float* s, int64_t j0) {
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  const uint32_t* kc = kt + j0;
  for (int64_t c = 0; c < dp; ++c, kc += kb) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(kc), b1 = (__m512bh)_mm512_loadu_si512(kc + 16);
    for (int r = 0; r < R; ++r) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(qs[r * dp + c]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(s + r * kKeys + j0, acc[r][0]);
    _mm512_storeu_ps(s + r * kKeys + j0 + 16, acc[r][1]);
  }
}

template <int R>
void score_rows(const uint32_t* qs, int64_t dp, const uint32_t* kt, int64_t kb, float* s, int64_t keys_padded) {
  for (int64_t j0 = 0; j0 < keys_padded; j0 += 32) score_tile<R>(qs, dp, kt, kb, s, j0);
}

void scores(const uint32_t* qs, int64_t rows, int64_t dp, const uint32_t* kt, int64_t kb, float* s,
            int64_t keys_padded) {
  int64_t r = 0;
  for (; r + kScoreRows <= rows; r += kScoreRows) {
    score_rows<kScoreRows>(qs + r * dp, dp, kt, kb, s + r * kKeys, keys_padded);
  }
  const uint32_t* q = qs + r * dp;
  float* o = s + r * kKeys;
  switch (rows - r) {
    case 5: score_rows<5>(q, dp, kt, kb, o, keys_padded); break;
    case 4: score_rows<4>(q, dp, kt, kb, o, keys_padded); break;
    case 3: score_rows<3>(q, dp, kt, kb, o, keys_padded); break;
    case 2: score_rows<2>(q, dp, kt, kb, o, keys_padded); break;
    case 1: score_rows<1>(q, dp, kt, kb, o, keys_padded); break;
    default: break;
  }
}

// O[0..R) x [c0, c0 + 16 NV) += P[0..R) x [0, np pairs) . Vp[0..np) x [c0, ..). P rows are
// kKeys / 2 words apart, O and Vp rows dvp apart (both padded: no masking needed).
template <int R, int NV>
inline void pv_tile(const uint32_t* p, int64_t np, const uint32_t* v, float* o, int64_t dvp, int64_t c0) {
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < NV; ++t) acc[r][t] = _mm512_loadu_ps(o + r * dvp + c0 + t * 16);
  const uint32_t* vj = v + c0;
  for (int64_t j = 0; j < np; ++j, vj += dvp) {
    __m512bh b[NV];
    for (int t = 0; t < NV; ++t) b[t] = (__m512bh)_mm512_loadu_si512(vj + t * 16);
    for (int r = 0; r < R; ++r) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(p[r * (kKeys / 2) + j]));
      for (int t = 0; t < NV; ++t) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], a, b[t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < NV; ++t) _mm512_storeu_ps(o + r * dvp + c0 + t * 16, acc[r][t]);
}

template <int R>
void pv_rows(const uint32_t* p, int64_t np, const uint32_t* v, float* o, int64_t dvp) {
  for (int64_t c0 = 0; c0 < dvp;) {
    const int64_t nv = std::min<int64_t>(4, (dvp - c0) / 16);
    switch (nv) {
      case 4: pv_tile<R, 4>(p, np, v, o, dvp, c0); break;
      case 3: pv_tile<R, 3>(p, np, v, o, dvp, c0); break;
      case 2: pv_tile<R, 2>(p, np, v, o, dvp, c0); break;
      default: pv_tile<R, 1>(p, np, v, o, dvp, c0); break;
    }
    c0 += nv * 16;
  }
}

void accumulate_pv(const uint32_t* p, int64_t rows, int64_t np, const uint32_t* v, float* o, int64_t dvp) {
  int64_t r = 0;
  for (; r + kPvRows <= rows; r += kPvRows) pv_rows<kPvRows>(p + r * (kKeys / 2), np, v, o + r * dvp, dvp);
  const uint32_t* pr = p + r * (kKeys / 2);
  float* orow = o + r * dvp;
  switch (rows - r) {
    case 3: pv_rows<3>(pr, np, v, orow, dvp); break;
    case 2: pv_rows<2>(pr, np, v, orow, dvp); break;
    case 1: pv_rows<1>(pr, np, v, orow, dvp); break;
    default: break;
  }
}

// Row softmax step over s[0, n) (as the float32 kernel's): returns the new maximum; s
// becomes exp(s - max), *sum their sum.
float exp_row(float* s, int64_t n, float running_max, float* sum) {
  __m512 vm = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(s + j));
  float m = _mm512_reduce_max_ps(vm);
  for (; j < n; ++j) m = std::max(m, s[j]);
  m = std::max(m, running_max);
  const __m512 mv = _mm512_set1_ps(m);
  __m512 acc = _mm512_setzero_ps();
  j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 e = V::exp(_mm512_sub_ps(_mm512_loadu_ps(s + j), mv));
    _mm512_storeu_ps(s + j, e);
    acc = _mm512_add_ps(acc, e);
  }
  float total = _mm512_reduce_add_ps(acc);
  for (; j < n; ++j) {
    s[j] = std::exp(s[j] - m);
    total += s[j];
  }
  *sum = total;
  return m;
}

struct Scratch {
  std::vector<uint32_t> qs, pp;
  std::vector<float> s, o, m, l;
};

}  // namespace

void fused_attention_bf16_avx512bf16(const AttentionProblem& p, int threads) {
  const int64_t B = p.batch, H = p.heads, Nq = p.num_queries, Nk = p.num_keys, d = p.head_dim, dv = p.value_dim;
  if (B == 0 || H == 0 || Nq == 0) return;
  const int64_t dp = (d + 1) / 2;             // head-dimension pairs
  const int64_t dvp = (dv + 15) / 16 * 16;    // O and V rows, padded to whole registers
  const int64_t key_blocks = (Nk + kKeys - 1) / kKeys;
  const int64_t kb = std::min<int64_t>(kKeys, (Nk + 31) / 32 * 32);
  const int64_t k_per_head = key_blocks * dp * kb;
  const int64_t key_pairs = key_blocks * (kKeys / 2);  // V rows per head, padded to whole blocks
  const int64_t v_per_head = key_pairs * dvp;

  const double flops = 2.0 * static_cast<double>(B * H) * Nq * Nk * (d + dv);
  const int workers = flops < 1e6 ? 1 : std::max(1, threads);

  // 1. K and V packed per (b, h), rounded to bf16, zero-padded.
  std::unique_ptr<uint32_t[]> kt(new uint32_t[static_cast<size_t>(B * H * k_per_head)]);
  std::unique_ptr<uint32_t[]> vp(new uint32_t[static_cast<size_t>(B * H * v_per_head)]);
  parallel_tasks(B * H, workers, [&](int64_t bh, int) {
    const int64_t b = bh / H, h = bh % H;
    const float* kbh = p.k + b * p.k_stride[0] + h * p.k_stride[1];
    uint32_t* kdst = kt.get() + bh * k_per_head;
    for (int64_t blk = 0; blk < key_blocks; ++blk) {
      uint32_t* block = kdst + blk * dp * kb;
      const int64_t j0 = blk * kKeys, n = std::min<int64_t>(kKeys, Nk - j0);
      for (int64_t c = 0; c < dp; ++c) std::fill(block + c * kb + n, block + (c + 1) * kb, 0u);
      for (int64_t j = 0; j < n; ++j) {
        const float* krow = kbh + (j0 + j) * p.k_stride[2];
        for (int64_t c = 0; c < dp; ++c) {
          block[c * kb + j] = bf16_pair(krow[2 * c], 2 * c + 1 < d ? krow[2 * c + 1] : 0.0f);
        }
      }
    }
    const float* vbh = p.v + b * p.v_stride[0] + h * p.v_stride[1];
    uint32_t* vdst = vp.get() + bh * v_per_head;
    std::fill(vdst, vdst + v_per_head, 0u);
    for (int64_t jp = 0; jp * 2 < Nk; ++jp) {
      const float* r0 = vbh + 2 * jp * p.v_stride[2];
      const float* r1 = 2 * jp + 1 < Nk ? r0 + p.v_stride[2] : nullptr;
      uint32_t* dst = vdst + jp * dvp;
      for (int64_t c = 0; c < dv; ++c) dst[c] = bf16_pair(r0[c], r1 != nullptr ? r1[c] : 0.0f);
    }
  });

  // 2. Query blocks.
  const int64_t row_blocks = (Nq + kRows - 1) / kRows;
  std::vector<Scratch> scratch(static_cast<size_t>(workers));
  for (Scratch& sc : scratch) {
    sc.qs.resize(static_cast<size_t>(kRows * dp));
    sc.pp.resize(static_cast<size_t>(kRows * kKeys / 2));
    sc.s.resize(static_cast<size_t>(kRows * kKeys));
    sc.o.resize(static_cast<size_t>(kRows * dvp));
    sc.m.resize(kRows);
    sc.l.resize(kRows);
  }
  parallel_tasks(B * H * row_blocks, workers, [&](int64_t task, int worker) {
    Scratch& sc = scratch[static_cast<size_t>(worker)];
    const int64_t bh = task / row_blocks, b = bh / H, h = bh % H;
    const int64_t r0 = (task % row_blocks) * kRows, rows = std::min<int64_t>(kRows, Nq - r0);
    const float* qb = p.q + b * p.q_stride[0] + h * p.q_stride[1] + r0 * p.q_stride[2];
    const uint32_t* kth = kt.get() + bh * k_per_head;
    const uint32_t* vph = vp.get() + bh * v_per_head;
    for (int64_t i = 0; i < rows; ++i) {
      const float* src = qb + i * p.q_stride[2];
      uint32_t* dst = sc.qs.data() + i * dp;
      for (int64_t c = 0; c < dp; ++c) {
        dst[c] = bf16_pair(src[2 * c] * p.scale, 2 * c + 1 < d ? src[2 * c + 1] * p.scale : 0.0f);
      }
    }
    std::fill(sc.o.begin(), sc.o.begin() + rows * dvp, 0.0f);
    std::fill(sc.m.begin(), sc.m.end(), -std::numeric_limits<float>::infinity());
    std::fill(sc.l.begin(), sc.l.end(), 0.0f);

    for (int64_t blk = 0; blk < key_blocks; ++blk) {
      const int64_t j0 = blk * kKeys, n = std::min<int64_t>(kKeys, Nk - j0);
      const int64_t n_padded = (n + 31) / 32 * 32, n_even = (n + 1) / 2 * 2;
      scores(sc.qs.data(), rows, dp, kth + blk * dp * kb, kb, sc.s.data(), n_padded);
      if (p.bias != nullptr) {
        const float* bb = p.bias + b * p.bias_stride[0] + h * p.bias_stride[1] + j0 * p.bias_stride[3];
        for (int64_t i = 0; i < rows; ++i) {
          const float* brow = bb + (r0 + i) * p.bias_stride[2];
          float* srow = sc.s.data() + i * kKeys;
          const int64_t s3 = p.bias_stride[3];
          for (int64_t j = 0; j < n; ++j) srow[j] += brow[j * s3];
        }
      }
      for (int64_t i = 0; i < rows; ++i) {
        float sum = 0;
        float* srow = sc.s.data() + i * kKeys;
        const float m_old = sc.m[i];
        const float m_new = exp_row(srow, n, m_old, &sum);
        const float alpha = std::exp(m_old - m_new);  // 0 on the first block (m_old = -inf)
        sc.l[i] = sc.l[i] * alpha + sum;
        sc.m[i] = m_new;
        if (blk > 0 && alpha != 1.0f) {
          float* orow = sc.o.data() + i * dvp;
          const __m512 av = _mm512_set1_ps(alpha);
          for (int64_t c = 0; c < dvp; c += 16) _mm512_storeu_ps(orow + c, _mm512_mul_ps(_mm512_loadu_ps(orow + c), av));
        }
        if (n_even > n) srow[n] = 0.0f;  // the odd key's partner in the last pair
        to_pairs(srow, n_even, sc.pp.data() + i * (kKeys / 2));
      }
      accumulate_pv(sc.pp.data(), rows, n_even / 2, vph + (j0 / 2) * dvp, sc.o.data(), dvp);
    }

    float* ob = p.out + b * p.out_stride[0] + h * p.out_stride[1] + r0 * p.out_stride[2];
    for (int64_t i = 0; i < rows; ++i) {
      const __m512 inv = _mm512_set1_ps(1.0f / sc.l[i]);
      const float* orow = sc.o.data() + i * dvp;
      float* dst = ob + i * p.out_stride[2];
      int64_t c = 0;
      for (; c + 16 <= dv; c += 16) _mm512_storeu_ps(dst + c, _mm512_mul_ps(_mm512_loadu_ps(orow + c), inv));
      if (c < dv) {
        const __mmask16 m = static_cast<__mmask16>((1u << (dv - c)) - 1u);
        _mm512_mask_storeu_ps(dst + c, m, _mm512_mul_ps(_mm512_loadu_ps(orow + c), inv));
      }
    }
  });
}

}  // namespace sam3rt::nn::cpu
