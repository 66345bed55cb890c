#pragma once
// Shapes: the list of dimension sizes of a row-major tensor, and the rules that combine them.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iosfwd>
#include <iterator>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace ember {

/// Dimension sizes, outermost first. `{}` is a scalar (0-d, one element).
///
/// A vector of int64 that keeps up to `kInline` values inside itself: every tensor has a
/// shape and most ops build a few more, so a heap allocation per shape (std::vector) was a
/// measurable part of a small model's training step. Longer shapes move to the heap. The
/// same type carries other short lists of int64: strides and lists of dims.
class Shape {
 public:
  using value_type = int64_t;
  using iterator = int64_t*;
  using const_iterator = const int64_t*;

  static constexpr size_t kInline = 6;

  Shape() = default;
  Shape(std::initializer_list<int64_t> values) : Shape(values.begin(), values.end()) {}
  /// `count` copies of `value`.
  explicit Shape(size_t count, int64_t value = 0) { resize(count, value); }
  template <class It>
  requires(!std::is_integral_v<It>) Shape(It first, It last) { assign(first, last); }
  /// From a std::vector, as earlier versions of ember spelled shapes.
  Shape(const std::vector<int64_t>& values) : Shape(values.begin(), values.end()) {}

  Shape(const Shape& other) { copy_from(other); }
  /// A moved-from shape is empty.
  Shape(Shape&& other) noexcept { *this = std::move(other); }
  Shape& operator=(const Shape& other) {
    if (this != &other) copy_from(other);
    return *this;
  }
  Shape& operator=(Shape&& other) noexcept {
    if (this == &other) return *this;
    if (other.heap_) {
      take_heap(other);
    } else {
      copy_from(other);
    }
    other.size_ = 0;
    return *this;
  }
  ~Shape() = default;

  template <class It>
  void assign(It first, It last) {
    const auto count = static_cast<size_t>(std::distance(first, last));
    size_ = 0;
    reserve(count);
    // Through a local pointer: `data_[size_++] = ...` stored and reloaded size_ for every value
    // (an int64_t store may alias a size_t), a chain through memory that made shape copies 45%
    // of a small op's own time.
    int64_t* out = data_;
    for (; first != last; ++first) *out++ = static_cast<int64_t>(*first);
    size_ = count;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t* data() { return data_; }
  const int64_t* data() const { return data_; }
  int64_t& operator[](size_t i) { return data_[i]; }
  int64_t operator[](size_t i) const { return data_[i]; }
  int64_t& back() { return data_[size_ - 1]; }
  int64_t back() const { return data_[size_ - 1]; }
  int64_t* begin() { return data_; }
  int64_t* end() { return data_ + size_; }
  const int64_t* begin() const { return data_; }
  const int64_t* end() const { return data_ + size_; }

  void push_back(int64_t value) {
    reserve(size_ + 1);
    data_[size_++] = value;
  }
  void pop_back() { --size_; }
  void clear() { size_ = 0; }
  void resize(size_t count, int64_t value = 0) {
    reserve(count);
    for (size_t i = size_; i < count; ++i) data_[i] = value;
    size_ = count;
  }
  /// Inserts `value` before `pos`; returns an iterator to it.
  int64_t* insert(const int64_t* pos, int64_t value) { return insert(pos, &value, &value + 1); }
  /// Inserts [first, last) (which must not point into this shape) before `pos`.
  template <class It>
  int64_t* insert(const int64_t* pos, It first, It last) {
    const size_t at = static_cast<size_t>(pos - data_);
    const size_t count = static_cast<size_t>(std::distance(first, last));
    reserve(size_ + count);
    std::move_backward(data_ + at, data_ + size_, data_ + size_ + count);
    std::copy(first, last, data_ + at);
    size_ += count;
    return data_ + at;
  }
  /// Removes the value at `pos`; returns an iterator to the one after it.
  int64_t* erase(const int64_t* pos) {
    const size_t at = static_cast<size_t>(pos - data_);
    std::move(data_ + at + 1, data_ + size_, data_ + at);
    --size_;
    return data_ + at;
  }

  std::vector<int64_t> to_vector() const { return {begin(), end()}; }
  operator std::vector<int64_t>() const { return to_vector(); }

  // A loop rather than std::equal, which calls memcmp for a few values.
  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.size_ != b.size_) return false;
    for (size_t i = 0; i < a.size_; ++i) {
      if (a.data_[i] != b.data_[i]) return false;
    }
    return true;
  }

 private:
  // Makes room for `capacity` values, keeping the current ones. Inline, as every shape built
  // goes through it and almost none grows (out of line, it and the move were 2.6% of the
  // seed step's instructions).
  void reserve(size_t capacity) {
    if (capacity > capacity_) grow(capacity);
  }
  void grow(size_t capacity);
  // Copies `other`'s values. A short shape into the inline buffer copies the whole buffer, a
  // fixed size the compiler does in a few vector moves, rather than a loop of `size` steps (a
  // heap block always has more than kInline slots, so the read stays inside it).
  void copy_from(const Shape& other) {
    if (other.size_ <= kInline && data_ == inline_) {
      std::memcpy(inline_, other.data_, sizeof inline_);
      size_ = other.size_;
    } else {
      assign(other.begin(), other.end());
    }
  }
  // Takes over `other`'s heap block; `other` falls back to its (empty) inline buffer.
  void take_heap(Shape& other) noexcept;

  // Zeroed, as a heap block is (grow), so that copy_from never reads an unset value.
  int64_t inline_[kInline] = {};
  std::unique_ptr<int64_t[]> heap_;
  int64_t* data_ = inline_;
  size_t size_ = 0;
  size_t capacity_ = kInline;
};

/// A list of dim indices (for sum, mean, permute, ...): the same small vector.
using Dims = Shape;

/// Number of elements of `shape` (1 for a scalar, 0 if any size is 0).
int64_t numel_of(const Shape& shape);

/// "[2, 3]": for error messages and printing.
std::string to_string(const Shape& shape);
/// Prints to_string(shape), so `std::cout << t.shape()` works.
std::ostream& operator<<(std::ostream& out, const Shape& shape);

/// Row-major strides in elements: [2, 3, 4] -> [12, 4, 1].
Shape contiguous_strides(const Shape& shape);

/// NumPy/PyTorch broadcasting: align from the right; sizes must match or one must be 1.
/// Throws Error naming `op` and both shapes when they do not broadcast.
Shape broadcast_shape(const Shape& a, const Shape& b, const char* op);

/// Wraps a possibly negative dim into [0, ndim). Throws Error naming `op` if out of range.
int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace ember
