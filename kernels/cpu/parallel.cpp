#include <ember/kernels/cpu/parallel.h>

#include <pthread.h>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ember::kernels::cpu::detail {

namespace {

thread_local bool on_worker = false;
#ifndef _OPENMP
std::atomic<int64_t> cap{1};
#endif

// Workers that sleep on a condition variable between passes. Not OpenMP's: with libgomp's
// default wait policy its idle workers spin after each pass, on the cores OpenBLAS's threads
// need for the next product, and the largest multitask step's mean rose from 181 to 209-241 ms
// on 2 cores. (With OpenBLAS's default, its own idle threads spin for a while after each
// product, and a worker woken here waits for the core: no gain then, and no loss.)
class Workers {
 public:
  void run(int64_t count, void (*task)(void*, int64_t), void* context) {
    std::unique_lock<std::mutex> caller(caller_, std::try_to_lock);
    if (!caller.owns_lock()) {  // another thread's pass holds the workers: run it all here
      for (int64_t i = 0; i < count; ++i) task(context, i);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (int64_t(threads_.size()) < count - 1) {
        const int64_t index = int64_t(threads_.size()) + 1;
        threads_.emplace_back([this, index] { serve(index); });
      }
      task_ = task;
      context_ = context;
      count_ = count;
      pending_ = count - 1;
      ++generation_;
    }
    wake_.notify_all();
    task(context, 0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return pending_ == 0; });
  }

 private:
  void serve(int64_t index) {
    on_worker = true;
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (index >= count_) continue;
      lock.unlock();
      task_(context_, index);
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex caller_;  // held by the one thread whose pass is running
  std::mutex mutex_;   // guards everything below
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  void (*task_)(void*, int64_t) = nullptr;
  void* context_ = nullptr;
  int64_t count_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
};

// Never destroyed: its threads wait until the process ends, and a pass may still run during
// static destruction. A child of fork() has none of the parent's threads (and the parent's
// locks may be held), so it starts over with a pool of its own and leaves the old one alone.
std::atomic<Workers*> pool{nullptr};
std::once_flag pool_made;

Workers* workers() {
  std::call_once(pool_made, [] {
    pool = new Workers;
    pthread_atfork(nullptr, nullptr, [] { pool = new Workers; });
  });
  return pool;
}

}  // namespace

void run_on_workers(int64_t count, void (*task)(void*, int64_t), void* context) {
  workers()->run(count, task, context);
}

int64_t pass_threads() {
  if (on_worker) return 1;
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return cap.load(std::memory_order_relaxed);
#endif
}

void set_pass_threads([[maybe_unused]] int64_t threads) {
#ifndef _OPENMP
  cap.store(threads, std::memory_order_relaxed);
#endif
}

}  // namespace ember::kernels::cpu::detail
