#include <ember/kernels/cpu/elementwise.h>

namespace ember::kernels::cpu {

void sum_reduce(const float* x, std::span<const int64_t> shape,
                std::span<const int64_t> out_strides, double scale, float* out, int64_t out_numel) {
  // Double accumulators keep a long float32 sum within one rounding of the exact value.
  Scratch<double, 64> total(static_cast<size_t>(out_numel), 0.0);
  int64_t numel = 1;
  for (int64_t size : shape) numel *= size;
  if (numel > 0 && shape.empty()) total[0] = x[0];
  if (numel > 0 && !shape.empty()) {
    const size_t ndim = shape.size();
    const int64_t inner = shape[ndim - 1], step = out_strides[ndim - 1];
    Scratch<int64_t, 8> index(ndim, 0);
    int64_t offset = 0;
    for (int64_t row = 0; row < numel / inner; ++row) {
      const float* in = x + row * inner;
      if (step == 0) {
        double row_sum = 0;
        for (int64_t i = 0; i < inner; ++i) row_sum += in[i];
        total[offset] += row_sum;
      } else {
        for (int64_t i = 0; i < inner; ++i) total[offset + i * step] += in[i];
      }
      for (size_t d = ndim - 1; d-- > 0;) {
        offset += out_strides[d];
        if (++index[d] < shape[d]) break;
        offset -= out_strides[d] * shape[d];
        index[d] = 0;
      }
    }
  }
  for (int64_t i = 0; i < out_numel; ++i) out[i] = static_cast<float>(total[i] * scale);
}

}  // namespace ember::kernels::cpu
