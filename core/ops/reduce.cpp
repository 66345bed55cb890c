// Reductions. sum and mean share one primitive; var, std and logsumexp are built from them,
// so they need no backward of their own.

#include <algorithm>
#include <cmath>

#include <ember/core/ops/common.h>

namespace ember {

namespace detail {

Dims normalize_dims(const Dims& dims, int64_t ndim, const char* op) {
  Dims out;
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) {
    const int64_t n = normalize_dim(d, ndim, op);
    if (std::find(out.begin(), out.end(), n) != out.end()) {
      throw Error(std::string(op) + ": dim " + std::to_string(d) + " appears more than once");
    }
    out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  // A scalar reduced over "dim 0" is still a scalar.
  if (ndim == 0) out.clear();
  return out;
}

DimSplit split_at(const Shape& shape, int64_t dim) {
  DimSplit split{1, shape.empty() ? 1 : shape[dim], 1};
  for (int64_t d = 0; d < dim; ++d) split.outer *= shape[d];
  for (size_t d = dim + 1; d < shape.size(); ++d) split.inner *= shape[d];
  return split;
}

}  // namespace detail

namespace {
// The shape of x reduced over `dims` (sorted), with reduced dims kept as 1.
Shape reduced_shape(const Shape& shape, const Dims& dims) {
  Shape kept = shape;
  for (int64_t d : dims) kept[d] = 1;
  return kept;
}

Shape drop_dims(const Shape& shape, const Dims& dims) {
  Shape out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (std::find(dims.begin(), dims.end(), int64_t(d)) == dims.end()) out.push_back(shape[d]);
  }
  return out;
}

int64_t count_over(const Shape& shape, const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= shape[d];
  return n;
}

Tensor scaled_sum(const char* op, const char* node, const Tensor& x, const Dims& dims, bool keepdim,
                  bool average);

// The gradient of scaled_sum: g (its output's shape, that is `kept` with or without the reduced
// dims) spread back over the input's shape and times the scale, into one tensor (a gather, then
// for a mean a scaling pass over it); expand, then a product by a scalar, made three tensors.
// Linear in g: its own backward sums gg back over the reduced dims with the same scale.
//   g: kept (or kept without its reduced dims); result: input_shape
Tensor spread(const Tensor& g, const Shape& kept, const Shape& input_shape, double scale,
              bool average) {
  Tensor out = empty(input_shape);
  float* values = out.data();
  const float s = static_cast<float>(scale);
  if (g.numel() == 1) {
    // One value everywhere (the gradient of a full mean, as in a loss): filled, no walk.
    std::fill_n(values, out.numel(), g.data()[0] * s);
  } else {
    kernels::cpu::gather(g.data(), detail::broadcast_strides(kept, input_shape), input_shape,
                         values);
    if (scale != 1.0) {
      kernels::cpu::map(values, values, out.numel(), [s](float v) { return v * s; });
    }
  }
  return record(
      average ? "MeanBackwardBackward0" : "SumBackwardBackward0", std::move(out), {g}, {},
      [kept, input_shape, average, g_shape = g.shape()](const Tensor& gg, const BackwardContext&) {
        // The dims g was spread over (summing over a dim of size 1 changes nothing; with only
        // such dims, g was copied as it is, and so is gg).
        Dims reduced;
        for (size_t d = 0; d < kept.size(); ++d) {
          if (kept[d] != input_shape[d]) reduced.push_back(int64_t(d));
        }
        if (reduced.empty()) return Grads{reshape(gg, g_shape)};
        const Tensor sums =
            scaled_sum(average ? "mean" : "sum", average ? "MeanBackward1" : "SumBackward1", gg,
                       reduced, /*keepdim=*/true, average);
        return Grads{reshape(sums, g_shape)};
      });
}

// scale · Σ x over `dims`: sum (scale 1) and mean (scale 1/n) share this loop. A separate
// mean primitive, rather than sum / n, saves a division op and its node in every loss.
//   d/dx = scale (the gradient is broadcast back over the reduced dims: spread)
Tensor scaled_sum(const char* op, const char* node, const Tensor& x, const Dims& dims, bool keepdim,
                  bool average) {
  detail::check_defined(x, op);
  // 1/0 = inf makes the mean of nothing 0 · inf = NaN, as in PyTorch.
  if (x.dim() == 2 && !keepdim && dims.size() == 1 && (dims[0] == 0 || dims[0] == -2) &&
      !(grad_enabled() && x.requires_grad())) {
    // A matrix's column sums with no node to record (a linear layer's bias gradient, in a
    // backward), with the strides worked out below written down: the general bookkeeping took
    // ~45 ns of the ~85 of a [10, 1] bias's sum (Zen 4).
    const double scale = average ? 1.0 / double(x.shape()[0]) : 1.0;
    Tensor out = empty({x.shape()[1]});
    const int64_t out_strides[] = {0, 1};
    kernels::cpu::sum_reduce(x.data(), x.shape(), out_strides, scale, out.data(), out.numel());
    return out;
  }
  // Over every dim (no dims given: a loss's mean) the bookkeeping is short: what is kept is
  // all ones, and every output stride 0 (a recorded mean of a [10, 1] tensor 123 -> 110 ns).
  const bool all = dims.empty();
  const Dims reduced = all ? Dims() : detail::normalize_dims(dims, x.dim(), op);
  const Shape kept = all ? Shape(x.shape().size(), 1) : reduced_shape(x.shape(), reduced);
  const double count = all ? double(x.numel()) : double(count_over(x.shape(), reduced));
  const double scale = average ? 1.0 / count : 1.0;
  Tensor out = empty(keepdim ? kept : all ? Shape() : drop_dims(x.shape(), reduced));
  Shape out_strides(kept.size(), 0);
  if (!all) {
    out_strides = contiguous_strides(kept);
    for (int64_t d : reduced) out_strides[d] = 0;
  }
  kernels::cpu::sum_reduce(x.data(), x.shape(), out_strides, scale, out.data(), out.numel());
  return record(
      node, std::move(out), {x}, {},
      [kept, input_shape = x.shape(), scale, average](const Tensor& g, const BackwardContext&) {
        return Grads{spread(g, kept, input_shape, scale, average)};
      });
}

}  // namespace

Tensor sum(const Tensor& x, const Dims& dims, bool keepdim) {
  return scaled_sum("sum", "SumBackward1", x, dims, keepdim, false);
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

Tensor mean(const Tensor& x, const Dims& dims, bool keepdim) {
  return scaled_sum("mean", "MeanBackward1", x, dims, keepdim, true);
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

// var = Σ (x - mean)² / (n - 1) when unbiased, / n otherwise
Tensor var(const Tensor& x, const Dims& dims, bool unbiased, bool keepdim) {
  detail::check_defined(x, "var");
  const Dims reduced = detail::normalize_dims(dims, x.dim(), "var");
  const int64_t n = count_over(x.shape(), reduced);
  const Tensor centered = x - mean(x, dims, true);
  return sum(centered * centered, dims, keepdim) / static_cast<float>(unbiased ? n - 1 : n);
}

Tensor var(const Tensor& x, bool unbiased) { return var(x, {}, unbiased, false); }

// std = sqrt(var). At var = 0, d/dvar sqrt is infinite and var's own gradient 0, so the chain
// rule would give inf · 0 = NaN; PyTorch defines the gradient there as 0. The "double where"
// gets it: sqrt sees 1 instead of 0 and its result is replaced by a constant 0, so no gradient
// reaches var at those entries. (A NaN variance, e.g. unbiased over one element, stays NaN.)
Tensor std(const Tensor& x, const Dims& dims, bool unbiased, bool keepdim) {
  detail::check_defined(x, "std");
  const Tensor variance = var(x, dims, unbiased, keepdim);
  const Tensor zero = variance == 0.f;
  return where(zero, zeros({}), sqrt(where(zero, ones({}), variance)));
}

Tensor std(const Tensor& x, bool unbiased) { return std(x, {}, unbiased, false); }

namespace {
// max or min along `dim`. The gradient goes to the chosen element only, through a one-hot
// mask built here (piecewise constant, so it needs no derivative of its own).
ValuesIndices extremum_along(const char* op, const char* node, const Tensor& x, int64_t dim,
                             bool keepdim, bool is_max) {
  detail::check_defined(x, op);
  dim = normalize_dim(dim, x.dim(), op);
  const detail::DimSplit split = detail::split_at(x.shape(), dim);
  if (split.size == 0) {
    throw Error(std::string(op) + ": cannot reduce over dim " + std::to_string(dim) +
                " of size 0 (shape " + to_string(x.shape()) + ")");
  }
  Shape kept = x.shape();
  if (!kept.empty()) kept[dim] = 1;
  Tensor values = empty(kept), indices = empty(kept), chosen = zeros(x.shape());
  const float* in = x.data();
  for (int64_t o = 0; o < split.outer; ++o) {
    for (int64_t i = 0; i < split.inner; ++i) {
      const int64_t base = o * split.size * split.inner + i;
      int64_t best = 0;
      // The first extreme value wins ties; a NaN wins over everything (as PyTorch).
      for (int64_t k = 1; k < split.size && !std::isnan(in[base + best * split.inner]); ++k) {
        const float v = in[base + k * split.inner], b = in[base + best * split.inner];
        if (std::isnan(v) || (is_max ? v > b : v < b)) best = k;
      }
      values.data()[o * split.inner + i] = in[base + best * split.inner];
      indices.data()[o * split.inner + i] = static_cast<float>(best);
      chosen.data()[base + best * split.inner] = 1.f;
    }
  }
  // d/dx = one-hot of the chosen element
  values = record(node, std::move(values), {x}, {chosen},
                  [](const Tensor& g, const BackwardContext& ctx) {
                    const Tensor& chosen = ctx.saved[0];
                    return Grads{expand(g, chosen.shape()) * chosen};
                  });
  if (!keepdim && x.dim() > 0) {
    values = squeeze(values, dim);
    indices = squeeze(indices.detach(), dim);
  }
  return {values, indices};
}
}  // namespace

ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum_along("max", "MaxBackward0", x, dim, keepdim, true);
}

ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum_along("min", "MinBackward0", x, dim, keepdim, false);
}

// log Σ e^x = m + log Σ e^(x - m), m = max x (a constant shift, so no gradient flows into m)
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim) {
  detail::check_defined(x, "logsumexp");
  dim = normalize_dim(dim, x.dim(), "logsumexp");
  Tensor shift = max(x, dim, true).values.detach();
  // All -inf (or +inf) rows would make x - m NaN; shifting those by 0 gives PyTorch's answer.
  for (int64_t i = 0; i < shift.numel(); ++i) {
    if (std::isinf(shift.data()[i])) shift.data()[i] = 0.f;
  }
  const Tensor out = log(sum(exp(x - shift), {dim}, true)) + shift;
  return keepdim || x.dim() == 0 ? out : squeeze(out, dim);
}

}  // namespace ember
