#include <ember/kernels/cpu/elementwise.h>

#include <algorithm>

namespace ember::kernels::cpu {

namespace {
constexpr int64_t kStreamedSum = 1 << 15;  // column sums over more elements stream rows
constexpr int64_t kSumBlock = 512;         // columns per block when they do

// out[c] = scale · Σ_r x[r, c] for columns [first, last) of a [rows, columns] matrix (a bias
// gradient), each column summed row by row in double, so its sum is the same however the
// columns are split. Written straight to out: through a buffer of double sums and a pass
// converting them, a [10, 50] bias gradient took ~40% more instructions.
void column_sums(const float* x, int64_t rows, int64_t columns, int64_t first, int64_t last,
                 double scale, float* out) {
  if (rows * (last - first) >= kStreamedSum) {
    // Large: rows read in order, a block of columns at a time, their sums (4 KiB of doubles)
    // staying in L1. Eight columns down every row, as below, would step 16 KiB between reads
    // for a [1024, 4096] gradient: a new page each time.
    double sums[kSumBlock];
    for (int64_t block = first; block < last; block += kSumBlock) {
      const int64_t width = std::min(last - block, kSumBlock);
      std::fill_n(sums, width, 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        const float* in = x + r * columns + block;
        for (int64_t c = 0; c < width; ++c) sums[c] += in[c];
      }
      for (int64_t c = 0; c < width; ++c) out[block + c] = static_cast<float>(sums[c] * scale);
    }
    return;
  }
  // Small: eight columns at a time summed down every row in registers, where the general
  // walk below would store each row's partial sums and load them back for the next row.
  int64_t c = first;
  for (; c + 8 <= last; c += 8) {
    double sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t r = 0; r < rows; ++r) {
      const float* in = x + r * columns + c;
      for (int lane = 0; lane < 8; ++lane) sums[lane] += in[lane];
    }
    for (int lane = 0; lane < 8; ++lane) out[c + lane] = static_cast<float>(sums[lane] * scale);
  }
  for (; c < last; ++c) {
    double sum = 0;
    for (int64_t r = 0; r < rows; ++r) sum += x[r * columns + c];
    out[c] = static_cast<float>(sum * scale);
  }
}

// Σ in[0, n) in double, in four chains so that the adds overlap instead of waiting on one
// another.
double chained_sum(const float* in, int64_t n) {
  double part[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int lane = 0; lane < 4; ++lane) part[lane] += in[i + lane];
  }
  for (; i < n; ++i) part[0] += in[i];
  return (part[0] + part[1]) + (part[2] + part[3]);
}

// out[0] = scale · Σ x[0, n)
void whole_sum(const float* x, int64_t n, double scale, float* out) {
  out[0] = static_cast<float>(chained_sum(x, n) * scale);
}

// Every other reduction: x (contiguous, numel elements) walked row by row over `shape`
// (ndim dims after compact_dims), each row added into total at the output offsets `strides`.
void strided_sums(const float* x, const int64_t* shape, const int64_t* strides, size_t ndim,
                  int64_t numel, double* total) {
  const int64_t inner = shape[ndim - 1], step = strides[ndim - 1];
  Scratch<int64_t, 8> index(ndim, 0);
  int64_t offset = 0;
  for (int64_t row = 0; row < numel / inner; ++row) {
    const float* in = x + row * inner;
    double* sums = total + offset;
    if (step == 0) {
      sums[0] += chained_sum(in, inner);
    } else if (step == 1) {
      for (int64_t i = 0; i < inner; ++i) sums[i] += in[i];
    } else {
      for (int64_t i = 0; i < inner; ++i) sums[i * step] += in[i];
    }
    for (size_t d = ndim - 1; d-- > 0;) {
      offset += strides[d];
      if (++index[d] < shape[d]) break;
      offset -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
}
}  // namespace

void sum_reduce(const float* x, std::span<const int64_t> x_shape,
                std::span<const int64_t> out_strides, double scale, float* out, int64_t out_numel) {
  int64_t numel = 1;
  for (int64_t size : x_shape) numel *= size;
  if (out_numel == 1 && numel > 1) {
    // Everything to one value (a loss's mean): the walk below would merge all dims into one
    // row and sum it the same way, after bookkeeping that made a recorded mean of a [10, 1]
    // tensor 145 ns instead of 123 (Zen 4).
    run_at_cpu_level([](auto... args) { whole_sum(args...); }, x, numel, scale, out);
    return;
  }
  Scratch<int64_t, 8> shape(x_shape.size(), 0), strides(x_shape.size(), 0);
  for (size_t d = 0; d < x_shape.size(); ++d) {
    shape[d] = x_shape[d];
    strides[d] = out_strides[d];
  }
  // x is contiguous, so only the output's strides decide which dims merge.
  const size_t ndim = compact_dims<1>(&shape[0], {&strides[0]}, x_shape.size());
  if (numel > 0 && ndim == 2 && strides[0] == 0 && strides[1] == 1) {
    // Column sums: columns [first, last) per thread when large, at the CPU's level.
    const int64_t rows = shape[0], columns = shape[1];
    parallel_for(columns, rows, [=](int64_t first, int64_t last) {
      run_at_cpu_level([](auto... args) { column_sums(args...); }, x, rows, columns, first, last,
                       scale, out);
    });
    return;
  }
  // Double accumulators keep a long float32 sum within one rounding of the exact value.
  Scratch<double, 64> total(static_cast<size_t>(out_numel), 0.0);
  double* sums = &total[0];
  if (numel > 0 && ndim == 0) sums[0] = x[0];
  if (numel > 0 && ndim > 0) {
    run_at_cpu_level([](auto... args) { strided_sums(args...); }, x, &shape[0], &strides[0], ndim,
                     numel, sums);
  }
  for (int64_t i = 0; i < out_numel; ++i) out[i] = static_cast<float>(sums[i] * scale);
}

}  // namespace ember::kernels::cpu
