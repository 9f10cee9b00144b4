#include "nn/cpu/parallel.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace sam3rt::nn::cpu {

namespace {
template <typename Fn>
Fn openblas_symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}
}  // namespace

int openblas_mode() {
  auto get = openblas_symbol<int (*)()>("openblas_get_parallel");
  return get != nullptr ? get() : -1;
}

int openblas_threads() {
  auto get = openblas_symbol<int (*)()>("openblas_get_num_threads");
  return get != nullptr ? get() : 0;
}

void set_openblas_threads(int n) {
  if (auto set = openblas_symbol<void (*)(int)>("openblas_set_num_threads")) set(n);
}

int compute_threads() { return std::max({1, at::get_num_threads(), openblas_mode() == 1 ? openblas_threads() : 0}); }

void parallel_tasks(int64_t n, int threads, const std::function<void(int64_t, int)>& fn) {
  if (n <= 0) return;
  const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n)));
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&](int worker) {
    try {
      for (int64_t t = next.fetch_add(1); t < n; t = next.fetch_add(1)) fn(t, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next.store(n);  // the others stop after their current task
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (int w = 1; w < workers; ++w) pool.emplace_back(work, w);
  work(0);
  for (std::thread& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace sam3rt::nn::cpu
