#include "nn/cpu/parallel.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
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

namespace {

// Threads started per call: the fallback when the pool is busy with another caller's job.
void spawn_tasks(int64_t n, int workers, const std::function<void(int64_t, int)>& fn) {
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

thread_local bool tl_in_pool_worker = false;

// Workers started once and kept for the process (hardware threads - 1 of them), asleep
// between jobs. One job at a time: the caller that gets `busy` runs it with them; a
// concurrent caller (another server request) falls back to spawn_tasks.
class WorkerPool {
 public:
  WorkerPool() {
    const int n = std::max(1, static_cast<int>(std::thread::hardware_concurrency())) - 1;
    for (int i = 0; i < n; ++i) threads_.emplace_back([this, i] { loop(i + 1); });
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  int size() const { return static_cast<int>(threads_.size()); }

  // False when another job is running (the caller then does the work some other way).
  bool try_run(int64_t n, int workers, const std::function<void(int64_t, int)>& fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(m_);
      fn_ = &fn;
      n_ = n;
      next_.store(0);
      helpers_ = workers - 1;
      joined_ = 0;
      done_ = 0;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    tl_in_pool_worker = true;  // a nested call from one of the caller's tasks runs inline
    work(0);
    tl_in_pool_worker = false;
    std::unique_lock<std::mutex> lock(m_);
    finished_.wait(lock, [&] { return done_ == joined_ && (joined_ == helpers_ || next_.load() >= n_); });
    helpers_ = 0;  // late wakers of this generation take no part
    fn_ = nullptr;
    std::exception_ptr error = error_;
    lock.unlock();
    if (error) std::rethrow_exception(error);
    return true;
  }

 private:
  void work(int worker) {
    try {
      for (int64_t t = next_.fetch_add(1); t < n_; t = next_.fetch_add(1)) (*fn_)(t, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lock(m_);
      if (!error_) error_ = std::current_exception();
      next_.store(n_);
    }
  }
  void loop(int id) {
    tl_in_pool_worker = true;
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(m_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (fn_ == nullptr || joined_ >= helpers_ || id > helpers_) continue;
      ++joined_;
      lock.unlock();
      work(id);
      lock.lock();
      ++done_;
      finished_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex busy_;  // held by the caller whose job runs
  std::mutex m_;
  std::condition_variable wake_, finished_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  int helpers_ = 0, joined_ = 0, done_ = 0;
  std::exception_ptr error_;
};

WorkerPool& worker_pool() {
  static WorkerPool pool;  // started at the first parallel call, joined at exit
  return pool;
}

}  // namespace

void parallel_tasks(int64_t n, int threads, const std::function<void(int64_t, int)>& fn) {
  if (n <= 0) return;
  int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n)));
  if (workers == 1 || tl_in_pool_worker) {  // one thread, or nested inside a pool task
    for (int64_t t = 0; t < n; ++t) fn(t, 0);
    return;
  }
  WorkerPool& pool = worker_pool();
  const int pooled = std::min(workers, pool.size() + 1);
  if (pooled >= workers && pool.try_run(n, workers, fn)) return;
  spawn_tasks(n, workers, fn);
}

}  // namespace sam3rt::nn::cpu
