#include "pipeline/memory_tuning.h"

#include <cstdlib>
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace sam3rt::pipeline {

namespace {

AllocatorTuning apply() {
  AllocatorTuning t;
#if defined(__GLIBC__)
  for (const char* var : {"SAM3RT_DEFAULT_MALLOC", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                          "MALLOC_TOP_PAD_", "GLIBC_TUNABLES"}) {
    if (std::getenv(var) != nullptr) {
      t.reason = "allocator settings come from the environment";
      return t;
    }
  }
  // Blocks up to 1 GiB come from the heap and are reused after free (glibc accepts such a
  // threshold through mallopt; the biggest sam3rt temporaries are the 128 MiB attention
  // score buffer and ~85 MB feature maps of the segmentation head). The trim threshold
  // and top pad keep freed heap memory instead of returning it to the kernel.
  constexpr int kMmapThreshold = 1 << 30;
  constexpr int kTrimThreshold = 1 << 30;
  constexpr int kTopPad = 256 << 20;
  const bool ok = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1 &&
                  mallopt(M_TOP_PAD, kTopPad) == 1;
  t.applied = ok;
  t.reason = ok ? "mallopt applied" : "mallopt refused a setting";
#else
  t.reason = "not glibc";
#endif
  return t;
}

}  // namespace

AllocatorTuning tune_allocator_for_inference() {
  static std::once_flag once;
  static AllocatorTuning result;
  std::call_once(once, [] { result = apply(); });
  return result;
}

}  // namespace sam3rt::pipeline
