// Process-wide allocator settings for large activation tensors.
//
// glibc malloc serves blocks above M_MMAP_THRESHOLD (128 KiB, rising adaptively up to
// 32 MiB) with mmap and unmaps them on free, and trims the heap top beyond M_TRIM_THRESHOLD. A SAM 3
// forward allocates and frees hundreds of MiB-sized activations, so by default every pass
// maps fresh pages and the kernel faults and zeroes each one again (about 1 GB/s on the
// VMs we measure on; the reference spends 30-56 % of its CPU time there). Keeping freed
// memory inside the process makes later passes reuse already-touched pages. Peak RSS is
// unchanged (it is set by the largest pass); memory freed after a pass stays with the
// process until exit.
#pragma once

namespace sam3rt::pipeline {

struct AllocatorTuning {
  bool applied = false;  // false: left alone (not glibc, or the user set MALLOC_* tunables)
  const char* reason = "";
};

// Raises the mmap and trim thresholds and the top pad (mallopt) once per process; later
// calls return the first call's result. Skipped when the environment already sets glibc's
// own MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ / MALLOC_TOP_PAD_ or GLIBC_TUNABLES
// (the user's choice wins), or SAM3RT_DEFAULT_MALLOC (for measuring the difference).
// Thread-safe.
AllocatorTuning tune_allocator_for_inference();

}  // namespace sam3rt::pipeline
