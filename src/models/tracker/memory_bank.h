// The per-object memory bank of the video tracker (architecture §10.5; transformers
// Sam3TrackerVideoInferenceSession.output_dict_per_obj and Sam3TrackerVideoModel's
// _select_closest_cond_frames / _gather_memory_frame_outputs / _get_object_pointers /
// _process_object_pointers).
//
// Each tracked frame of an object leaves one entry: its memory features (memory encoder
// output, stored in bfloat16 as both the reference and Meta's original do), its object
// pointer and its object score. Conditioning entries (prompted frames that had never been
// tracked) are kept for the whole session; non-conditioning entries only while they can
// still be read: trim() drops those farther than a radius from the last tracked frame, so
// the bank stays flat however long the video is.
//
// Thread-safety: a plain value type; not safe to modify concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <vector>

#include "io/config.h"
#include "models/modules.h"

namespace sam3rt::models {

struct MemoryBankEntry {
  at::Tensor features;             // [HW, mem_dim] bfloat16 (undefined until the memory is encoded)
  at::Tensor object_pointer;       // [1, d]
  at::Tensor object_score_logits;  // [1, 1]
  at::Tensor masks;                // [1, 1, 4G, 4G] low-resolution mask logits the frame returned
                                   // (conditioning frames, which are returned again; else undefined)
};

// What the memory attention of one frame reads, in the reference's order.
struct MemorySelection {
  struct Spatial {
    const MemoryBankEntry* entry;
    int64_t slot;  // row of memory_temporal_positional_encoding
  };
  struct Pointer {
    const MemoryBankEntry* entry;
    int64_t offset;  // signed temporal distance (frames) used for its sine encoding
  };
  std::vector<Spatial> spatial;   // conditioning frames first, then t-(num_maskmem-1) .. t-1
  std::vector<Pointer> pointers;  // conditioning frames first, then t-1, t-2, ...
  int64_t max_object_pointers = 1;  // the pointer offsets are divided by max_object_pointers - 1
};

class ObjectMemoryBank {
 public:
  // Stores (replaces) the entry of `frame`.
  void store(int64_t frame, MemoryBankEntry entry, bool conditioning);
  // The entry of `frame`, or nullptr.
  MemoryBankEntry* find(int64_t frame, bool conditioning);
  const MemoryBankEntry* find(int64_t frame, bool conditioning) const;
  bool has_conditioning() const { return !conditioning_.empty(); }
  const std::map<int64_t, MemoryBankEntry>& conditioning() const { return conditioning_; }
  size_t num_non_conditioning() const { return non_conditioning_.size(); }

  // The memories frame `frame` attends to when tracked (reverse: time runs backwards).
  // num_frames < 0 means streaming (unknown video length). The bank must hold at least
  // one conditioning entry (Error(kInvalidArgument) otherwise). Object pointers come from
  // the selected conditioning frames not in the future (Meta), or with
  // all_conditioning_pointers from every conditioning frame not in the future
  // (transformers); the two differ only beyond max_cond_frame_num conditioning frames.
  MemorySelection select(int64_t frame, bool reverse, int64_t num_frames, const TrackerVideoConfig& config,
                         bool all_conditioning_pointers = false) const;

  // Drops the non-conditioning entries farther than `radius` frames from `frame`
  // (radius < 0: keeps everything).
  void trim(int64_t frame, int64_t radius);

  void clear();

 private:
  std::map<int64_t, MemoryBankEntry> conditioning_;
  std::map<int64_t, MemoryBankEntry> non_conditioning_;
};

// Memory attention inputs assembled from a selection (batch of one object).
struct MemoryInputs {
  at::Tensor memory;      // [1, M, mem_dim] float
  at::Tensor memory_pos;  // [1, M, mem_dim]
  int64_t num_object_pointer_tokens = 0;
};

// memory_pos_grid: the memory encoder's position encoding flattened, [HW, mem_dim].
// Spatial memories get memory_pos_grid + memory_temporal_positional_encoding[slot];
// object pointers get Linear(sine_1d(offset / (max_object_pointers - 1))) (zeros without
// temporal encoding) and, when d > mem_dim, are split into d / mem_dim tokens each.
MemoryInputs assemble_memory(const TrackerMemoryModules& modules, const TrackerVideoConfig& config,
                             const MemorySelection& selection, const at::Tensor& memory_pos_grid);

// 1-D sine encoding of the reference's object-pointer temporal positions: values [K] ->
// [K, dim] laid out [sin (dim/2) | cos (dim/2)] with divisors 10000^(2 floor(k/2) / (dim/2)).
at::Tensor sine_encode_1d(const at::Tensor& values, int64_t dim);

}  // namespace sam3rt::models
