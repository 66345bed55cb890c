#pragma once
// Splitting a large elementwise pass across ember's threads (set_num_threads).

#include <algorithm>
#include <cstdint>

namespace ember::kernels::cpu {

/// The fewest elements worth a thread of their own: 512 Ki floats (2 MiB). Splitting a pass
/// cost 15-70 µs more than half its time alone on the 2-vCPU KVM machine this was measured on
/// (Intel Xeon), mostly waking the sleeping worker: relu over 128 Ki floats took 14.6 µs alone
/// and 75.9 µs split in two, over 1 Mi floats 305 and 194 µs. So only passes over at least
/// 1 Mi elements split; every tensor of a small model stays on the calling thread.
constexpr int64_t kParallelGrain = 1 << 19;

namespace detail {
/// Runs task(context, i) for i in [0, count): i = 0 on this thread, the others on workers that
/// sleep between calls. Runs them all on this thread when another call holds the workers.
void run_on_workers(int64_t count, void (*task)(void*, int64_t), void* context);
/// How many threads a pass may use: ember's num_threads() (OpenMP's cap, or the value given to
/// set_pass_threads without OpenMP), 1 on a worker.
int64_t pass_threads();
/// Without OpenMP, the cap that set_num_threads gives the passes (OpenMP keeps it otherwise).
void set_pass_threads(int64_t threads);
}  // namespace detail

/// Calls f(begin, end) on disjoint ranges that cover [0, n), one per thread, where each index
/// stands for `unit` elements (a row, a column) and the pass covers at least two grains
/// (n · unit >= 2 · kParallelGrain) and more than one thread is allowed; otherwise f(0, n) on
/// this thread, after one multiply and compare. Every index is handled by exactly one call, so
/// a pass whose elements do not depend on one another gives the same bits on any number of
/// threads. f must not throw. Each call runs a copy of f. Capture the loop's scalars by value,
/// or hand them to a function as arguments (optim/adam.cpp): captured by reference, they live
/// in the caller's frame, which the workers can reach, so a float store in the loop might change
/// them; GCC then reloads them every iteration and can leave the loop scalar (Adam's update ran
/// 4x slower that way).
template <class F>
void parallel_for(int64_t n, int64_t unit, const F& f) {
  const int64_t threads = n * unit < 2 * kParallelGrain ? 1 : detail::pass_threads();
  if (threads < 2) {
    F body = f;
    body(int64_t{0}, n);
    return;
  }
  const int64_t most = std::min(n, n * unit / kParallelGrain);
  const int64_t count = std::min(threads, most);
  struct Split {
    const F* f;
    int64_t n, count;
  } split{&f, n, count};
  detail::run_on_workers(
      count,
      [](void* context, int64_t i) {
        const Split& s = *static_cast<const Split*>(context);
        F body = *s.f;
        body(s.n * i / s.count, s.n * (i + 1) / s.count);
      },
      &split);
}

}  // namespace ember::kernels::cpu
