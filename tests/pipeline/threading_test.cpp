#include "pipeline/threading.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <thread>

namespace sam3rt::pipeline {
namespace {

TEST(Threading, PthreadsOpenBlasGetsTheCoresAndAtenOneThread) {
  for (int requested : {0, 1, 3}) {
    const ThreadPlan p = plan_threads(requested);
    const int n = requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (p.blas == "openblas-pthreads") {
      EXPECT_EQ(p.aten_threads, 1) << requested;
      EXPECT_EQ(p.blas_threads, n) << requested;
    } else {
      EXPECT_EQ(p.aten_threads, n) << requested;
      EXPECT_EQ(p.blas_threads, 0) << requested;
    }
  }
}

TEST(Threading, ApplySetsAtenPool) {
  const int before = at::get_num_threads();
  ThreadPlan p;
  p.aten_threads = 2;
  apply_thread_plan(p);
  EXPECT_EQ(at::get_num_threads(), 2);
  p.aten_threads = 1;
  apply_thread_plan(p);
  EXPECT_EQ(at::get_num_threads(), 1);
  p.aten_threads = before;
  apply_thread_plan(p);
}

}  // namespace
}  // namespace sam3rt::pipeline
