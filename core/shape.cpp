#include <ember/core/shape.h>
#include <ember/error.h>

#include <ostream>

namespace ember {

void Shape::take_heap(Shape& other) noexcept {
  heap_ = std::move(other.heap_);
  data_ = heap_.get();
  capacity_ = other.capacity_;
  size_ = other.size_;
  other.data_ = other.inline_;
  other.capacity_ = kInline;
}

void Shape::grow(size_t capacity) {
  capacity = std::max(capacity, 2 * capacity_);
  auto grown = std::make_unique<int64_t[]>(capacity);  // zeroed, as the inline buffer is
  std::copy(data_, data_ + size_, grown.get());
  heap_ = std::move(grown);
  data_ = heap_.get();
  capacity_ = capacity;
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t size : shape) n *= size;
  return n;
}

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::ostream& operator<<(std::ostream& out, const Shape& shape) { return out << to_string(shape); }

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
  if (a == b) return a;
  const size_t ndim = std::max(a.size(), b.size());
  Shape out(ndim);
  for (size_t i = 0; i < ndim; ++i) {
    // Walk both shapes from the right; a missing leading dim acts as size 1.
    const int64_t sa = i < a.size() ? a[a.size() - 1 - i] : 1;
    const int64_t sb = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (sa != sb && sa != 1 && sb != 1) {
      throw Error(std::string(op) + ": shapes " + to_string(a) + " and " + to_string(b) +
                  " cannot be broadcast (" + std::to_string(sa) + " vs " + std::to_string(sb) +
                  " at dim " + std::to_string(static_cast<int64_t>(ndim - 1 - i)) + ")");
    }
    out[ndim - 1 - i] = sa == 1 ? sb : sa;
  }
  return out;
}

int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op) {
  // A scalar accepts dim 0 and -1, as in PyTorch.
  const int64_t range = ndim == 0 ? 1 : ndim;
  if (dim < -range || dim >= range) {
    throw Error(std::string(op) + ": dim " + std::to_string(dim) + " is out of range for a " +
                std::to_string(ndim) + "-d tensor (expected in [" + std::to_string(-range) + ", " +
                std::to_string(range - 1) + "])");
  }
  return dim < 0 ? dim + range : dim;
}

}  // namespace ember
