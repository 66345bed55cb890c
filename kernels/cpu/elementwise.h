#pragma once
// Elementwise loops on raw row-major buffers, with NumPy-style broadcasting.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <ember/kernels/cpu/cpu_level.h>
#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/cpu/scratch.h>

namespace ember::kernels::cpu {

namespace detail {
// The loops of map and zip over elements [begin, end), which run_at_cpu_level compiles per level.
template <class F>
void map_range(const float* x, float* out, int64_t begin, int64_t end, F f) {
  for (int64_t i = begin; i < end; ++i) out[i] = f(x[i]);
}
template <class F>
void zip_range(const float* a, const float* b, float* out, int64_t begin, int64_t end, F f) {
  for (int64_t i = begin; i < end; ++i) out[i] = f(a[i], b[i]);
}
}  // namespace detail

/// out[i] = f(x[i]) for i in [0, n); split across threads when large (parallel_for), each
/// range at the CPU's level (run_at_cpu_level).
template <class F>
void map(const float* x, float* out, int64_t n, F f) {
  parallel_for(n, 1, [=](int64_t begin, int64_t end) {
    run_at_cpu_level([](auto... args) { detail::map_range(args...); }, x, out, begin, end, f);
  });
}

/// out[i] = f(a[i], b[i]) for i in [0, n); split across threads when large, each range at
/// the CPU's level.
template <class F>
void zip(const float* a, const float* b, float* out, int64_t n, F f) {
  parallel_for(n, 1, [=](int64_t begin, int64_t end) {
    run_at_cpu_level([](auto... args) { detail::zip_range(args...); }, a, b, out, begin, end, f);
  });
}

/// Rewrites a walk over `shape` (with one stride array per operand) as the same walk over
/// fewer, longer rows: drops size-1 dims and merges each dim into the one before it where
/// every operand steps over the pair as over one dim (outer stride = size × inner stride).
/// Rewrites the first `ndim` entries of shape and of each array in place; returns the new rank.
template <size_t Operands>
size_t compact_dims(int64_t* shape, const std::array<int64_t*, Operands>& strides, size_t ndim) {
  size_t rank = 0;
  for (size_t d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    bool merges = rank > 0;
    for (const int64_t* s : strides) merges = merges && s[rank - 1] == shape[d] * s[d];
    if (merges) {
      shape[rank - 1] *= shape[d];
      for (int64_t* s : strides) s[rank - 1] = s[d];
    } else {
      shape[rank] = shape[d];
      for (int64_t* s : strides) s[rank] = s[d];
      ++rank;
    }
  }
  return rank;
}

/// Rows [first, last) of a zip_broadcast walk over `shape` (ndim dims, the last one a row),
/// with the operands' strides: every argument by value or as a pointer to int64s, so that no
/// float store can change them and the row loop vectorises (see parallel_for). zip_broadcast
/// runs it at the CPU's level (run_at_cpu_level).
template <class F>
void zip_rows(const float* a, const int64_t* stride_a, const float* b, const int64_t* stride_b,
              const int64_t* shape, size_t ndim, float* out, F f, int64_t first, int64_t last) {
  const int64_t inner = shape[ndim - 1];
  const int64_t step_a = stride_a[ndim - 1], step_b = stride_b[ndim - 1];
  // The multi-index of row `first` over the outer dims, and where a and b start for it.
  Scratch<int64_t, 8> index(ndim, 0);
  int64_t offset_a = 0, offset_b = 0;
  for (int64_t rest = first, d = int64_t(ndim) - 2; d >= 0; --d) {
    index[size_t(d)] = rest % shape[d];
    rest /= shape[d];
    offset_a += index[size_t(d)] * stride_a[d];
    offset_b += index[size_t(d)] * stride_b[d];
  }
  for (int64_t row = first; row < last; ++row) {
    float* out_row = out + row * inner;
    if (step_a == 1 && step_b == 1) {
      // Both rows contiguous (a permute that keeps the last dim, say): a loop the compiler
      // vectorises, which it cannot do with the steps unknown.
      for (int64_t i = 0; i < inner; ++i) out_row[i] = f(a[offset_a + i], b[offset_b + i]);
    } else {
      for (int64_t i = 0; i < inner; ++i)
        out_row[i] = f(a[offset_a + i * step_a], b[offset_b + i * step_b]);
    }
    // Advance the multi-index over the outer dims, odometer style.
    for (size_t d = ndim - 1; d-- > 0;) {
      offset_a += stride_a[d];
      offset_b += stride_b[d];
      if (++index[d] < shape[d]) break;
      offset_a -= stride_a[d] * shape[d];
      offset_b -= stride_b[d] * shape[d];
      index[d] = 0;
    }
  }
}

/// out = f(a, b) over `out_shape`, reading a and b through element strides aligned to
/// out_shape (stride 0 along a broadcast dim). The innermost dim is a plain strided loop.
template <class F>
void zip_broadcast(const float* a, std::span<const int64_t> a_strides, const float* b,
                   std::span<const int64_t> b_strides, std::span<const int64_t> out_shape,
                   float* out, F f) {
  int64_t numel = 1;
  for (int64_t size : out_shape) numel *= size;
  if (numel == 0) return;
  Scratch<int64_t, 8> shape(out_shape.size(), 0), stride_a(out_shape.size(), 0),
      stride_b(out_shape.size(), 0);
  for (size_t d = 0; d < out_shape.size(); ++d) {
    shape[d] = out_shape[d];
    stride_a[d] = a_strides[d];
    stride_b[d] = b_strides[d];
  }
  const size_t ndim = compact_dims<2>(&shape[0], {&stride_a[0], &stride_b[0]}, out_shape.size());
  if (ndim == 0) {
    out[0] = f(a[0], b[0]);
    return;
  }
  const int64_t inner = shape[ndim - 1];
  // Rows split across threads when large.
  parallel_for(numel / inner, inner, [&, f](int64_t first, int64_t last) {
    run_at_cpu_level([](auto... args) { zip_rows(args...); }, a, &stride_a[0], b, &stride_b[0],
                     &shape[0], ndim, out, f, first, last);
  });
}

/// out = x read through `strides` over `out_shape`: a permuted or broadcast copy.
inline void gather(const float* x, std::span<const int64_t> strides,
                   std::span<const int64_t> out_shape, float* out) {
  // The same walk as zip_broadcast, with x as both operands and the second one ignored.
  zip_broadcast(x, strides, x, strides, out_shape, out, [](float v, float) { return v; });
}

/// Sums x (of `shape`) into out, times `scale`, where `out_strides` maps each input dim to
/// the output (0 along a reduced dim). Accumulates in double, then rounds once to float.
void sum_reduce(const float* x, std::span<const int64_t> shape,
                std::span<const int64_t> out_strides, double scale, float* out, int64_t out_numel);

}  // namespace ember::kernels::cpu
