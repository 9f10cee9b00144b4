#include "nn/connected_components.h"

#include <ATen/ops/empty.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "sam3rt/error.h"

namespace sam3rt::nn {

namespace {

struct Labelling {
  at::Tensor labels;  // int32, CPU
  at::Tensor areas;   // int32, CPU
};

int32_t find_root(std::vector<int32_t>& parent, int32_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

// Labels each H x W slice: first pass gives provisional labels merged through union-find
// with the already-visited neighbours (W, NW, N, NE), second pass resolves them to
// consecutive labels and counts the areas.
Labelling label(const at::Tensor& mask) {
  SAM3RT_CHECK(mask.defined() && mask.dim() >= 2, kInvalidArgument, "connected components need a [..., H, W] mask");
  const at::Tensor fg = mask.ne(0).to(at::kCPU).contiguous();  // bool
  const int64_t H = fg.size(-2), W = fg.size(-1);
  const int64_t slices = H * W == 0 ? 0 : fg.numel() / (H * W);
  Labelling out;
  out.labels = at::empty(fg.sizes(), at::TensorOptions().dtype(at::kInt));
  out.areas = at::empty(fg.sizes(), at::TensorOptions().dtype(at::kInt));
  const bool* in = fg.data_ptr<bool>();
  int32_t* lab = out.labels.data_ptr<int32_t>();
  int32_t* area = out.areas.data_ptr<int32_t>();
  std::vector<int32_t> parent, final_label, count;
  for (int64_t s = 0; s < slices; ++s) {
    const bool* m = in + s * H * W;
    int32_t* l = lab + s * H * W;
    int32_t* a = area + s * H * W;
    parent.assign(1, 0);  // label 0 = background
    for (int64_t y = 0; y < H; ++y) {
      for (int64_t x = 0; x < W; ++x) {
        const int64_t i = y * W + x;
        if (!m[i]) {
          l[i] = 0;
          continue;
        }
        int32_t best = 0;
        auto join = [&](int64_t j) {
          const int32_t r = find_root(parent, l[j]);
          if (best == 0) {
            best = r;
          } else if (r != best) {
            // union: the smaller root wins, so roots stay the earliest label
            if (r < best) {
              parent[best] = r;
              best = r;
            } else {
              parent[r] = best;
            }
          }
        };
        if (x > 0 && m[i - 1]) join(i - 1);
        if (y > 0) {
          if (x > 0 && m[i - W - 1]) join(i - W - 1);
          if (m[i - W]) join(i - W);
          if (x + 1 < W && m[i - W + 1]) join(i - W + 1);
        }
        if (best == 0) {
          best = static_cast<int32_t>(parent.size());
          parent.push_back(best);
        }
        l[i] = best;
      }
    }
    final_label.assign(parent.size(), 0);
    count.assign(parent.size(), 0);
    int32_t next = 0;
    for (int64_t i = 0; i < H * W; ++i) {
      if (l[i] == 0) continue;
      const int32_t r = find_root(parent, l[i]);
      if (final_label[r] == 0) final_label[r] = ++next;
      l[i] = final_label[r];
      ++count[l[i]];
    }
    for (int64_t i = 0; i < H * W; ++i) a[i] = l[i] == 0 ? 0 : count[l[i]];
  }
  return out;
}

}  // namespace

at::Tensor connected_component_areas(const at::Tensor& mask) { return label(mask).areas.to(mask.device()); }

at::Tensor connected_component_labels(const at::Tensor& mask) { return label(mask).labels.to(mask.device()); }

}  // namespace sam3rt::nn
