// CPU threads for sam3rt's own kernels (the fused attention), next to the two pools that
// ATen brings: its OpenMP intra-op pool and the BLAS library's pool.
#pragma once

#include <cstdint>
#include <functional>

namespace sam3rt::nn::cpu {

// OpenBLAS's threading, looked up at run time (the BLAS behind libtorch is whatever the
// system's libblas.so.3 is). openblas_mode(): -1 = not OpenBLAS, 0 = sequential build,
// 1 = its own pthread pool, 2 = OpenMP. openblas_threads(): its thread count, 0 when not
// OpenBLAS. set_openblas_threads(n): no-op when not OpenBLAS.
int openblas_mode();
int openblas_threads();
void set_openblas_threads(int n);

// Threads sam3rt's kernels may use: as many as the larger of ATen's and the BLAS's pools
// (one of them is kept at 1 when the two would fight; pipeline/threading.h).
int compute_threads();

// Runs fn(task, worker) for every task in [0, n) on up to `threads` threads; worker is in
// [0, threads), the calling thread is worker 0. Tasks are handed out in order, one at a
// time. The helpers are a process-wide pool started at the first call and kept asleep
// between calls (no thread is created per call); a second caller while the pool is busy
// (concurrent requests), or one asking for more threads than the pool has, gets threads
// of its own for the call. A call made from inside a task runs inline. The first
// exception thrown by fn is rethrown after every thread has stopped.
void parallel_tasks(int64_t n, int threads, const std::function<void(int64_t task, int worker)>& fn);

}  // namespace sam3rt::nn::cpu
