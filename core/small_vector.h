#pragma once
// A vector that keeps its first N elements inside itself: a graph node's edges and saved
// tensors (one to three of each for most ops) then live in the node's own block instead of two
// blocks of their own, allocated and freed with every recorded op; and a backward's context
// holds its saved tensors without a block.

#include <cstddef>
#include <iterator>
#include <memory>
#include <new>
#include <utility>

#include <ember/core/allocator.h>

namespace ember::detail {

/// The operations of std::vector that the graph uses; beyond N elements they move to a pool
/// block.
template <class T, size_t N>
class SmallVector {
 public:
  SmallVector() = default;
  SmallVector(const SmallVector&) = delete;
  SmallVector& operator=(const SmallVector&) = delete;
  ~SmallVector() {
    clear();
    if (data_ != inline_data()) pool_deallocate(data_, capacity_ * sizeof(T));
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  std::reverse_iterator<const T*> rbegin() const { return std::reverse_iterator(end()); }
  std::reverse_iterator<const T*> rend() const { return std::reverse_iterator(begin()); }

  void reserve(size_t capacity) {
    if (capacity > capacity_) grow(capacity);
  }
  // By value: an element of this very list, passed in, is copied before a grow moves it.
  void push_back(T value) {
    if (size_ == capacity_) grow(2 * capacity_);
    new (data_ + size_) T(std::move(value));
    ++size_;
  }
  void clear() {
    std::destroy(begin(), end());
    size_ = 0;
  }

 private:
  T* inline_data() { return reinterpret_cast<T*>(inline_); }

  void grow(size_t capacity) {
    T* bigger = static_cast<T*>(pool_allocate(capacity * sizeof(T)));
    std::uninitialized_move(begin(), end(), bigger);
    std::destroy(begin(), end());
    if (data_ != inline_data()) pool_deallocate(data_, capacity_ * sizeof(T));
    data_ = bigger;
    capacity_ = capacity;
  }

  alignas(T) std::byte inline_[N * sizeof(T)];
  T* data_ = inline_data();
  size_t size_ = 0;
  size_t capacity_ = N;
};

}  // namespace ember::detail
