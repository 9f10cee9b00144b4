#include "models/tracker/memory_bank.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/pow.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "sam3rt/error.h"

namespace sam3rt::models {

void ObjectMemoryBank::store(int64_t frame, MemoryBankEntry entry, bool conditioning) {
  (conditioning ? conditioning_ : non_conditioning_)[frame] = std::move(entry);
}

MemoryBankEntry* ObjectMemoryBank::find(int64_t frame, bool conditioning) {
  auto& m = conditioning ? conditioning_ : non_conditioning_;
  auto it = m.find(frame);
  return it == m.end() ? nullptr : &it->second;
}

const MemoryBankEntry* ObjectMemoryBank::find(int64_t frame, bool conditioning) const {
  const auto& m = conditioning ? conditioning_ : non_conditioning_;
  auto it = m.find(frame);
  return it == m.end() ? nullptr : &it->second;
}

MemorySelection ObjectMemoryBank::select(int64_t frame, bool reverse, int64_t num_frames,
                                         const TrackerVideoConfig& c, bool all_conditioning_pointers) const {
  SAM3RT_CHECK(!conditioning_.empty(), kInvalidArgument, "an object to track needs a prompted frame first");
  MemorySelection s;

  // Conditioning frames: all of them when they fit; otherwise the closest one before the
  // frame, the closest one at or after it, then the temporally closest others.
  std::vector<int64_t> selected;
  std::map<int64_t, const MemoryBankEntry*> unselected;
  const int64_t max_cond = c.max_cond_frame_num;
  if (max_cond == -1 || static_cast<int64_t>(conditioning_.size()) <= max_cond) {
    for (const auto& [t, e] : conditioning_) selected.push_back(t);
  } else {
    auto after = conditioning_.lower_bound(frame);  // first t >= frame
    if (after != conditioning_.begin()) selected.push_back(std::prev(after)->first);
    if (after != conditioning_.end()) selected.push_back(after->first);
    std::vector<int64_t> others;
    for (const auto& [t, e] : conditioning_) {
      if (std::find(selected.begin(), selected.end(), t) == selected.end()) others.push_back(t);
    }
    std::stable_sort(others.begin(), others.end(),
                     [frame](int64_t a, int64_t b) { return std::llabs(a - frame) < std::llabs(b - frame); });
    const int64_t remain = std::max<int64_t>(0, max_cond - static_cast<int64_t>(selected.size()));
    for (size_t i = 0; i < others.size(); ++i) {
      if (static_cast<int64_t>(i) < remain) {
        selected.push_back(others[i]);
      } else {
        unselected[others[i]] = &conditioning_.at(others[i]);
      }
    }
  }
  // Conditioning memories use the last temporal slot.
  for (int64_t t : selected) {
    const MemoryBankEntry& e = conditioning_.at(t);
    if (e.features.defined()) s.spatial.push_back({&e, c.num_maskmem - 1});
  }
  // The previous num_maskmem - 1 frames (in tracking direction): offset k uses slot k - 1.
  for (int64_t k = c.num_maskmem - 1; k >= 1; --k) {
    const int64_t prev = reverse ? frame + k : frame - k;
    const MemoryBankEntry* e = find(prev, false);
    if (e == nullptr) {
      auto it = unselected.find(prev);
      if (it != unselected.end()) e = it->second;
    }
    if (e != nullptr && e->features.defined()) s.spatial.push_back({e, k - 1});
  }

  // Object pointers: the selected (or every) conditioning frame not in the future, in
  // frame order, then up to max_object_pointers - 1 previous non-conditioning frames.
  const bool streaming = num_frames < 0;
  s.max_object_pointers =
      streaming ? c.max_object_pointers_in_encoder : std::min(num_frames, c.max_object_pointers_in_encoder);
  for (const auto& [t, e] : conditioning_) {
    const bool eligible = all_conditioning_pointers || std::find(selected.begin(), selected.end(), t) != selected.end();
    if (eligible && (reverse ? t >= frame : t <= frame)) s.pointers.push_back({&e, reverse ? t - frame : frame - t});
  }
  for (int64_t k = 1; k < s.max_object_pointers; ++k) {
    const int64_t ref = reverse ? frame + k : frame - k;
    if (ref < 0 || (!streaming && ref >= num_frames)) break;
    if (const MemoryBankEntry* e = find(ref, false)) s.pointers.push_back({e, k});
  }
  return s;
}

void ObjectMemoryBank::trim(int64_t frame, int64_t radius) {
  if (radius < 0) return;
  for (auto it = non_conditioning_.begin(); it != non_conditioning_.end();) {
    it = std::llabs(it->first - frame) > radius ? non_conditioning_.erase(it) : std::next(it);
  }
}

void ObjectMemoryBank::clear() {
  conditioning_.clear();
  non_conditioning_.clear();
}

at::Tensor sine_encode_1d(const at::Tensor& values, int64_t dim) {
  const int64_t half = dim / 2;
  const auto opts = values.options().dtype(at::kFloat);
  at::Tensor exponents = at::arange(half, opts).div(2, "floor").mul(2).div(static_cast<double>(half));
  at::Tensor divisors = at::pow(10000.0, exponents);                    // [dim/2]
  at::Tensor v = values.to(at::kFloat).unsqueeze(-1).div(divisors);     // [K, dim/2]
  return at::cat({v.sin(), v.cos()}, -1);                               // [K, dim]
}

MemoryInputs assemble_memory(const TrackerMemoryModules& m, const TrackerVideoConfig& c, const MemorySelection& s,
                             const at::Tensor& memory_pos_grid) {
  const int64_t mem = c.memory_encoder_output_channels;
  std::vector<at::Tensor> memories, positions;
  for (const MemorySelection::Spatial& sp : s.spatial) {
    memories.push_back(sp.entry->features.to(memory_pos_grid.scalar_type()));  // [HW, mem]
    positions.push_back(memory_pos_grid.add(m.memory_temporal_positional_encoding.select(0, sp.slot).view({1, mem})));
  }
  MemoryInputs out;
  if (!s.pointers.empty()) {
    std::vector<at::Tensor> ptrs;
    std::vector<float> offsets;
    for (const MemorySelection::Pointer& p : s.pointers) {
      ptrs.push_back(p.entry->object_pointer.reshape({-1}));
      offsets.push_back(static_cast<float>(p.offset));
    }
    at::Tensor pointers = at::stack(ptrs, 0);  // [K, d]
    const int64_t K = pointers.size(0), d = pointers.size(1);
    at::Tensor pos;
    if (m.temporal_positional_encoding_projection.has_value()) {
      // The reference divides by max_object_pointers - 1; a one-frame video would divide by zero.
      const double max_diff = static_cast<double>(std::max<int64_t>(1, s.max_object_pointers - 1));
      at::Tensor t = at::tensor(offsets, pointers.options().dtype(at::kFloat)).div(max_diff);  // [K]
      pos = m.temporal_positional_encoding_projection->forward(sine_encode_1d(t, d).to(pointers.scalar_type()));
    } else {
      pos = at::zeros({K, mem}, pointers.options());
    }  // [K, mem]
    if (mem < d) {  // each pointer becomes d / mem tokens sharing its position
      SAM3RT_CHECK(d % mem == 0, kUnsupported, "object pointers of width ", d, " cannot be split into ", mem,
                   "-wide memory tokens");
      pointers = pointers.reshape({K * (d / mem), mem});
      pos = pos.repeat_interleave(d / mem, 0);
    }
    SAM3RT_CHECK(pointers.size(1) == mem, kUnsupported, "object pointers of width ", d,
                 " are narrower than the memory width ", mem);
    memories.push_back(pointers);
    positions.push_back(pos);
    out.num_object_pointer_tokens = pointers.size(0);
  }
  SAM3RT_CHECK(!memories.empty(), kInvalidArgument, "the memory bank has nothing to attend to");
  out.memory = at::cat(memories, 0).unsqueeze(0);       // [1, M, mem]
  out.memory_pos = at::cat(positions, 0).unsqueeze(0);  // [1, M, mem]
  return out;
}

}  // namespace sam3rt::models
