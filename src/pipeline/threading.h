// How many threads ATen and the BLAS library get, decided once per Model::load.
//
// ATen runs its element-wise and reduction kernels on its own intra-op pool (OpenMP), while
// the matrix products go to the BLAS. When the BLAS is an OpenBLAS built with its own
// pthread pool (Debian's libtorch), the two pools take turns on the same cores and each
// spins after its work: OpenMP's workers busy-wait for the next region while OpenBLAS's
// threads run, and OpenBLAS's threads sched_yield in a loop while ATen's run. On a 2-core
// machine that spinning took 70 % of the samples of a tracker prompt (perf). Giving the
// cores to the BLAS and running ATen's own kernels on the calling thread was faster at
// every stage measured (docs/performance.md): tracker prompt 0.126 -> 0.054 s, text
// encoder 0.56 -> 0.16 s, detector 5.5 -> 4.4 s, ViT blocks -13 %.
//
// With any other BLAS (MKL or an OpenMP OpenBLAS share ATen's OpenMP pool; CUDA does not
// care) ATen gets all the threads.
#pragma once

#include <string>

namespace sam3rt::pipeline {

struct ThreadPlan {
  int aten_threads = 1;      // at::set_num_threads
  int blas_threads = 0;      // openblas_set_num_threads; 0 = left as it is
  std::string blas;          // what was found: "openblas-pthreads", "openblas-openmp", "other"
};

// The plan for `requested` cores (0 = all cores of the machine).
ThreadPlan plan_threads(int requested);

// Applies a plan to the process (ATen's pool is process-wide).
void apply_thread_plan(const ThreadPlan& plan);

}  // namespace sam3rt::pipeline
