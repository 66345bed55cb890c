// softmax and log_softmax along one dim. Both subtract the row max before exponentiating, so
// exp never overflows (softmax is shift-invariant, and the largest term becomes e^0 = 1).

#include <cmath>
#include <limits>

#include <ember/core/ops/common.h>

namespace ember {

namespace {
// For each row along `dim`: writes x - max - log Σ e^(x - max) into out.
Tensor log_softmax_forward(const char* op, const Tensor& x, int64_t dim) {
  detail::check_defined(x, op);
  dim = normalize_dim(dim, x.dim(), op);
  const detail::DimSplit split = detail::split_at(x.shape(), dim);
  Tensor out = empty(x.shape());
  const float* in = x.data();
  float* result = out.data();
  for (int64_t o = 0; o < split.outer; ++o) {
    for (int64_t i = 0; i < split.inner; ++i) {
      const int64_t base = o * split.size * split.inner + i;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t k = 0; k < split.size; ++k) m = std::max(m, in[base + k * split.inner]);
      double total = 0;
      for (int64_t k = 0; k < split.size; ++k)
        total += std::exp(double(in[base + k * split.inner]) - m);
      const float log_total = static_cast<float>(std::log(total));
      for (int64_t k = 0; k < split.size; ++k) {
        result[base + k * split.inner] = in[base + k * split.inner] - m - log_total;
      }
    }
  }
  return out;
}
}  // namespace

// y = e^x / Σ e^x;  dx = y ⊙ (g - Σ g⊙y)
Tensor softmax(const Tensor& x, int64_t dim) {
  Tensor out = log_softmax_forward("softmax", x, dim);
  float* values = out.data();
  for (int64_t i = 0; i < out.numel(); ++i) values[i] = std::exp(values[i]);
  dim = normalize_dim(dim, x.dim(), "softmax");
  return record(
      "SoftmaxBackward0", std::move(out), {x}, {},
      [dim](const Tensor& g, const BackwardContext& ctx) {
        const Tensor& y = ctx.output;
        return Grads{y * (g - sum(g * y, {dim}, true))};
      },
      true);
}

// y = x - log Σ e^x;  dx = g - e^y ⊙ Σ g
Tensor log_softmax(const Tensor& x, int64_t dim) {
  Tensor out = log_softmax_forward("log_softmax", x, dim);
  dim = normalize_dim(dim, x.dim(), "log_softmax");
  return record(
      "LogSoftmaxBackward0", std::move(out), {x}, {},
      [dim](const Tensor& g, const BackwardContext& ctx) {
        return Grads{g - exp(ctx.output) * sum(g, {dim}, true)};
      },
      true);
}

}  // namespace ember
