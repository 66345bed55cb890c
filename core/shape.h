#pragma once
// Shapes: the list of dimension sizes of a row-major tensor, and the rules that combine them.

#include <cstdint>
#include <string>
#include <vector>

namespace ember {

/// Dimension sizes, outermost first. `{}` is a scalar (0-d, one element).
using Shape = std::vector<int64_t>;

/// Number of elements of `shape` (1 for a scalar, 0 if any size is 0).
int64_t numel_of(const Shape& shape);

/// "[2, 3]": for error messages and printing.
std::string to_string(const Shape& shape);

/// Row-major strides in elements: [2, 3, 4] -> [12, 4, 1].
std::vector<int64_t> contiguous_strides(const Shape& shape);

/// NumPy/PyTorch broadcasting: align from the right; sizes must match or one must be 1.
/// Throws Error naming `op` and both shapes when they do not broadcast.
Shape broadcast_shape(const Shape& a, const Shape& b, const char* op);

/// Wraps a possibly negative dim into [0, ndim). Throws Error naming `op` if out of range.
int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace ember
