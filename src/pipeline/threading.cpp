#include "pipeline/threading.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <thread>

#include "nn/cpu/parallel.h"

namespace sam3rt::pipeline {

ThreadPlan plan_threads(int requested) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int n = requested > 0 ? requested : cores;
  ThreadPlan p;
  switch (nn::cpu::openblas_mode()) {
    case 1:
      p.blas = "openblas-pthreads";
      p.aten_threads = 1;
      p.blas_threads = n;
      return p;
    case 2: p.blas = "openblas-openmp"; break;
    case 0: p.blas = "openblas-sequential"; break;
    default: p.blas = "other"; break;
  }
  p.aten_threads = n;
  p.blas_threads = 0;
  return p;
}

void apply_thread_plan(const ThreadPlan& plan) {
  at::set_num_threads(std::max(1, plan.aten_threads));
  if (plan.blas_threads > 0) nn::cpu::set_openblas_threads(plan.blas_threads);
}

}  // namespace sam3rt::pipeline
