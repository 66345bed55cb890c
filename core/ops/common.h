#pragma once
// Helpers shared by the op files: argument checks and the forward loops of elementwise ops.

#include <string>
#include <vector>

#include <ember/core/autograd.h>
#include <ember/core/ops.h>
#include <ember/core/tensor_impl.h>
#include <ember/error.h>
#include <ember/kernels/cpu/elementwise.h>

namespace ember::detail {

inline void check_defined(const Tensor& t, const char* op) {
  if (!t.defined()) throw Error(std::string(op) + ": got an undefined tensor");
}

inline void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  if (a.device() != b.device()) {
    throw Error(std::string(op) + ": tensors are on different devices (shapes " +
                to_string(a.shape()) + " and " + to_string(b.shape()) + ")");
  }
}

/// Strides to read a tensor of `shape` as if broadcast to `out_shape` (0 on broadcast dims).
inline Shape broadcast_strides(const Shape& shape, const Shape& out_shape) {
  Shape strides(out_shape.size(), 0);
  const Shape own = contiguous_strides(shape);
  const size_t lead = out_shape.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) strides[lead + i] = shape[i] == 1 ? 0 : own[i];
  return strides;
}

/// out = f(a, b) elementwise with broadcasting; no autograd.
template <class F>
Tensor broadcast_binary(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_defined(a, op);
  check_defined(b, op);
  check_same_device(a, b, op);
  Tensor out = empty(broadcast_shape(a.shape(), b.shape(), op));
  const Shape& shape = out.shape();
  // Fast paths: equal shapes, or a one-element operand, are flat loops.
  if (a.shape() == b.shape()) {
    kernels::cpu::zip(a.data(), b.data(), out.data(), out.numel(), f);
  } else if (b.numel() == 1 && a.shape() == shape) {
    const float bv = b.data()[0];
    kernels::cpu::map(a.data(), out.data(), out.numel(), [f, bv](float x) { return f(x, bv); });
  } else if (a.numel() == 1 && b.shape() == shape) {
    const float av = a.data()[0];
    kernels::cpu::map(b.data(), out.data(), out.numel(), [f, av](float y) { return f(av, y); });
  } else {
    kernels::cpu::zip_broadcast(a.data(), broadcast_strides(a.shape(), shape), b.data(),
                                broadcast_strides(b.shape(), shape), shape, out.data(), f);
  }
  return out;
}

/// out = f(x) elementwise; no autograd.
template <class F>
Tensor unary_map(const char* op, const Tensor& x, F f) {
  check_defined(x, op);
  Tensor out = empty(x.shape());
  kernels::cpu::map(x.data(), out.data(), x.numel(), f);
  return out;
}

/// Where an elementwise backward writes d(loss)/d(input) computed from g = d(loss)/d(output):
/// into g itself when nothing else can see it and no graph of the backward is being built (the
/// engine hands a node the only handle to a gradient made for it alone), else into a new tensor.
/// Only for the last read of g: the caller must not read g after writing the result.
inline Tensor gradient_out(const Tensor& g) {
  return unshared(g) && !grad_enabled() ? g : empty(g.shape());
}

/// Normalises and checks a list of dims (no repeats). Empty means all dims.
Dims normalize_dims(const Dims& dims, int64_t ndim, const char* op);

/// Views x as [outer, size(dim), inner] for loops along one dim.
struct DimSplit {
  int64_t outer, size, inner;
};
DimSplit split_at(const Shape& shape, int64_t dim);

/// The gradient for input i, computed only if that input needs one.
template <class F>
Tensor grad_if(const BackwardContext& ctx, size_t input, F compute) {
  return ctx.needs_grad(input) ? compute() : Tensor();
}

}  // namespace ember::detail
