#include "pipeline/threading.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <thread>

namespace sam3rt::pipeline {

namespace {

// OpenBLAS's own API, looked up at run time: the BLAS behind libtorch is whatever the
// system's libblas.so.3 points to, so it may not be OpenBLAS at all.
using GetParallelFn = int (*)();
using SetThreadsFn = void (*)(int);

GetParallelFn openblas_get_parallel() {
  return reinterpret_cast<GetParallelFn>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
}
SetThreadsFn openblas_set_num_threads() {
  return reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
}

}  // namespace

ThreadPlan plan_threads(int requested) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int n = requested > 0 ? requested : cores;
  ThreadPlan p;
  GetParallelFn get_parallel = openblas_get_parallel();
  // openblas_get_parallel(): 0 = sequential build, 1 = pthreads, 2 = OpenMP.
  const int mode = get_parallel != nullptr ? get_parallel() : -1;
  if (mode == 1) {
    p.blas = "openblas-pthreads";
    p.aten_threads = 1;
    p.blas_threads = n;
  } else {
    p.blas = mode == 2 ? "openblas-openmp" : mode == 0 ? "openblas-sequential" : "other";
    p.aten_threads = n;
    p.blas_threads = 0;
  }
  return p;
}

void apply_thread_plan(const ThreadPlan& plan) {
  at::set_num_threads(std::max(1, plan.aten_threads));
  if (plan.blas_threads > 0) {
    if (SetThreadsFn set = openblas_set_num_threads()) set(plan.blas_threads);
  }
}

}  // namespace sam3rt::pipeline
