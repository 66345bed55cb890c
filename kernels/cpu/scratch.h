#pragma once
// Per-call scratch arrays that live on the stack when small.

#include <cstddef>
#include <memory>

namespace ember::kernels::cpu {

/// `n` values of T, all set to `fill`: in a local buffer when n <= N, on the heap otherwise.
/// Kernels on tiny tensors are called many times per training step; a heap allocation for
/// their bookkeeping (an index per dim, a few partial sums) would cost more than the math.
template <class T, size_t N>
class Scratch {
 public:
  Scratch(size_t n, T fill) {
    if (n > N) {
      heap_ = std::make_unique<T[]>(n);
      data_ = heap_.get();
    }
    for (size_t i = 0; i < n; ++i) data_[i] = fill;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  T& operator[](size_t i) { return data_[i]; }

 private:
  T local_[N];
  std::unique_ptr<T[]> heap_;
  T* data_ = local_;
};

}  // namespace ember::kernels::cpu
