#include "nn/cpu/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sam3rt::nn::cpu {
namespace {

TEST(ParallelTasks, EveryTaskOnceWithWorkersInRange) {
  for (int threads : {1, 2, 3, 8}) {
    for (int64_t n : {0, 1, 2, 7, 100}) {
      std::vector<std::atomic<int>> runs(static_cast<size_t>(n));
      std::atomic<bool> bad_worker{false};
      parallel_tasks(n, threads, [&](int64_t t, int w) {
        runs[static_cast<size_t>(t)].fetch_add(1);
        if (w < 0 || w >= threads) bad_worker = true;
      });
      for (int64_t t = 0; t < n; ++t) EXPECT_EQ(runs[static_cast<size_t>(t)].load(), 1) << threads << " " << n;
      EXPECT_FALSE(bad_worker.load());
    }
  }
}

TEST(ParallelTasks, HelpersAreReusedNotStartedPerCall) {
  const unsigned hw = std::thread::hardware_concurrency();
  if (hw < 2) GTEST_SKIP() << "one hardware thread: no helpers";
  std::mutex m;
  std::set<std::thread::id> helpers;
  const std::thread::id caller = std::this_thread::get_id();
  for (int call = 0; call < 50; ++call) {
    parallel_tasks(64, 2, [&](int64_t, int) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      if (std::this_thread::get_id() != caller) {
        std::lock_guard<std::mutex> lock(m);
        helpers.insert(std::this_thread::get_id());
      }
    });
  }
  EXPECT_GE(helpers.size(), 1u);      // the work was shared
  EXPECT_LE(helpers.size(), hw - 1);  // by the pool's threads, not one new thread per call
}

TEST(ParallelTasks, ExceptionsPropagateAndThePoolStaysUsable) {
  EXPECT_THROW(parallel_tasks(50, 2,
                              [](int64_t t, int) {
                                if (t == 17) throw std::runtime_error("task 17");
                              }),
               std::runtime_error);
  std::atomic<int64_t> sum{0};
  parallel_tasks(100, 2, [&](int64_t t, int) { sum += t; });
  EXPECT_EQ(sum.load(), 4950);
}

TEST(ParallelTasks, NestedAndConcurrentCallsFinish) {
  // Tasks that start parallel work themselves, from several caller threads at once (the
  // server's request threads): every inner task runs once, nothing deadlocks.
  std::atomic<int64_t> inner{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 20; ++rep) {
        parallel_tasks(8, 2, [&](int64_t, int) { parallel_tasks(5, 2, [&](int64_t, int) { inner += 1; }); });
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(inner.load(), 4 * 20 * 8 * 5);
}

}  // namespace
}  // namespace sam3rt::nn::cpu
