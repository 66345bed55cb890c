#pragma once
// Elementwise loops on raw row-major buffers, with NumPy-style broadcasting.

#include <cstddef>
#include <cstdint>
#include <span>

#include <ember/kernels/cpu/scratch.h>

namespace ember::kernels::cpu {

/// out[i] = f(x[i]) for i in [0, n).
template <class F>
void map(const float* x, float* out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i]);
}

/// out[i] = f(a[i], b[i]) for i in [0, n).
template <class F>
void zip(const float* a, const float* b, float* out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
}

/// out = f(a, b) over `out_shape`, reading a and b through element strides aligned to
/// out_shape (stride 0 along a broadcast dim). The innermost dim is a plain strided loop.
template <class F>
void zip_broadcast(const float* a, std::span<const int64_t> a_strides, const float* b,
                   std::span<const int64_t> b_strides, std::span<const int64_t> out_shape,
                   float* out, F f) {
  const size_t ndim = out_shape.size();
  int64_t numel = 1;
  for (int64_t size : out_shape) numel *= size;
  if (numel == 0) return;
  if (ndim == 0) {
    out[0] = f(a[0], b[0]);
    return;
  }
  const int64_t inner = out_shape[ndim - 1];
  const int64_t step_a = a_strides[ndim - 1], step_b = b_strides[ndim - 1];
  Scratch<int64_t, 8> index(ndim, 0);
  int64_t offset_a = 0, offset_b = 0;
  for (int64_t row = 0; row < numel / inner; ++row) {
    float* out_row = out + row * inner;
    if (step_a == 1 && step_b == 1) {
      // Both rows contiguous (a permute that keeps the last dim, say): a loop the compiler
      // vectorises, which it cannot do with the steps unknown.
      zip(a + offset_a, b + offset_b, out_row, inner, f);
    } else {
      for (int64_t i = 0; i < inner; ++i)
        out_row[i] = f(a[offset_a + i * step_a], b[offset_b + i * step_b]);
    }
    // Advance the multi-index over the outer dims, odometer style.
    for (size_t d = ndim - 1; d-- > 0;) {
      offset_a += a_strides[d];
      offset_b += b_strides[d];
      if (++index[d] < out_shape[d]) break;
      offset_a -= a_strides[d] * out_shape[d];
      offset_b -= b_strides[d] * out_shape[d];
      index[d] = 0;
    }
  }
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
