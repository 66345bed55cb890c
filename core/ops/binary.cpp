// Elementwise binary ops with broadcasting. Each gradient is summed back to its input's
// shape with sum_to, which undoes the broadcast.

#include <cmath>

#include <ember/core/ops/common.h>

namespace ember {

using detail::broadcast_binary;
using detail::grad_if;

// a + b;  d/da = 1, d/db = 1
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary("add", a, b, [](float x, float y) { return x + y; });
  return record("AddBackward0", std::move(out), {a, b}, {},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, const BackwardContext& ctx) {
                  return Grads{grad_if(ctx, 0, [&] { return sum_to(g, sa); }),
                               grad_if(ctx, 1, [&] { return sum_to(g, sb); })};
                });
}

// a - b;  d/da = 1, d/db = -1
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary("sub", a, b, [](float x, float y) { return x - y; });
  return record("SubBackward0", std::move(out), {a, b}, {},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, const BackwardContext& ctx) {
                  return Grads{grad_if(ctx, 0, [&] { return sum_to(g, sa); }),
                               grad_if(ctx, 1, [&] { return -sum_to(g, sb); })};
                });
}

// a * b;  d/da = b, d/db = a
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary("mul", a, b, [](float x, float y) { return x * y; });
  return record("MulBackward0", std::move(out), {a, b}, {a, b},
                [](const Tensor& g, const BackwardContext& ctx) {
                  const Tensor &a = ctx.saved[0], &b = ctx.saved[1];
                  return Grads{grad_if(ctx, 0, [&] { return sum_to(g * b, a.shape()); }),
                               grad_if(ctx, 1, [&] { return sum_to(g * a, b.shape()); })};
                });
}

// a / b;  d/da = 1/b, d/db = -a/b², computed as (a/b)/b: b² overflows float32 for
// |b| > 1.8e19 where the quotients do not (PyTorch divides twice too)
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary("div", a, b, [](float x, float y) { return x / y; });
  return record("DivBackward0", std::move(out), {a, b}, {a, b},
                [](const Tensor& g, const BackwardContext& ctx) {
                  const Tensor &a = ctx.saved[0], &b = ctx.saved[1];
                  return Grads{
                      grad_if(ctx, 0, [&] { return sum_to(g / b, a.shape()); }),
                      grad_if(ctx, 1, [&] { return sum_to(-g * (a / b / b), b.shape()); })};
                });
}

// a^b;  d/da = b·a^(b-1), d/db = a^b·ln(a), taken as 0 where a = 0 and b >= 0 (as PyTorch)
Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary("pow", a, b, [](float x, float y) { return std::pow(x, y); });
  return record(
      "PowBackward1", std::move(out), {a, b}, {a, b},
      [](const Tensor& g, const BackwardContext& ctx) {
        const Tensor &a = ctx.saved[0], &b = ctx.saved[1];
        return Grads{grad_if(ctx, 0, [&] { return sum_to(g * b * pow(a, b - 1.f), a.shape()); }),
                     grad_if(ctx, 1, [&] {
                       const Tensor log_term = where((a == 0.f) * (b >= 0.f), zeros({}), log(a));
                       return sum_to(g * ctx.output * log_term, b.shape());
                     })};
      },
      /*save_output=*/true);
}

namespace {
// pow's backward in one pass: g·(e·a^(e-1)), in PyTorch's order, and 0 when e = 0; a^1 is a
// itself. Three ops, g·e·pow(a, e - 1), took three outputs and two passes of powf.
//   d/dg = e·a^(e-1) (this function again), d/da = g·e·(e-1)·a^(e-2) = e·pow_backward(g, a, e - 1)
// g, a: the same shape; result: that shape
Tensor pow_backward(const Tensor& g, const Tensor& a, float exponent) {
  if (exponent == 0.f) return zeros_like(g);
  Tensor out = detail::gradient_out(g);
  if (exponent == 2.f) {
    kernels::cpu::zip(g.data(), a.data(), out.data(), g.numel(),
                      [](float gv, float av) { return gv * (2.f * av); });
  } else {
    kernels::cpu::zip(g.data(), a.data(), out.data(), g.numel(), [exponent](float gv, float av) {
      return gv * (exponent * std::pow(av, exponent - 1.f));
    });
  }
  return record(
      "PowBackward0Backward0", std::move(out), {g, a}, {g, a},
      [exponent](const Tensor& gg, const BackwardContext& ctx) {
        const Tensor &g = ctx.saved[0], &a = ctx.saved[1];
        // d/da first: d/dg may be written over gg (see detail::gradient_out)
        Tensor da =
            grad_if(ctx, 1, [&] { return exponent * pow_backward(gg * g, a, exponent - 1.f); });
        return Grads{grad_if(ctx, 0, [&] { return pow_backward(gg, a, exponent); }), std::move(da)};
      });
}
}  // namespace

// a^e for a constant e, a² as a·a (as PyTorch computes it: powf(a, 2) may differ in the last
// bit);  d/da = e·a^(e-1) (0 when e = 0)
Tensor pow(const Tensor& a, float exponent) {
  Tensor out =
      exponent == 2.f
          ? detail::unary_map("pow", a, [](float x) { return x * x; })
          : detail::unary_map("pow", a, [exponent](float x) { return std::pow(x, exponent); });
  return record("PowBackward0", std::move(out), {a}, {a},
                [exponent](const Tensor& g, const BackwardContext& ctx) {
                  return Grads{pow_backward(g, ctx.saved[0], exponent)};
                });
}

namespace {
// The share of the gradient that goes to `mine` in max(mine, other) (or min): all of it where
// mine wins, half of it on a tie (PyTorch's rule), none where it loses.
Tensor winner_share(const Tensor& mine, const Tensor& other, bool is_max) {
  return (is_max ? mine > other : mine < other) + 0.5f * (mine == other);
}

Tensor extremum(const char* op, const char* node, const Tensor& a, const Tensor& b, bool is_max) {
  // NaN wins, as in PyTorch: `x > y` is false for NaN, so test it explicitly.
  Tensor out = broadcast_binary(op, a, b, [is_max](float x, float y) {
    if (std::isnan(x)) return x;
    return (is_max ? x > y : x < y) ? x : y;
  });
  return record(
      node, std::move(out), {a, b}, {a, b}, [is_max](const Tensor& g, const BackwardContext& ctx) {
        const Tensor &a = ctx.saved[0], &b = ctx.saved[1];
        return Grads{
            grad_if(ctx, 0, [&] { return sum_to(g * winner_share(a, b, is_max), a.shape()); }),
            grad_if(ctx, 1, [&] { return sum_to(g * winner_share(b, a, is_max), b.shape()); })};
      });
}
}  // namespace

// max(a, b);  d/da = [a > b] + ½[a = b]
Tensor maximum(const Tensor& a, const Tensor& b) {
  return extremum("maximum", "MaximumBackward0", a, b, true);
}

// min(a, b);  d/da = [a < b] + ½[a = b]
Tensor minimum(const Tensor& a, const Tensor& b) {
  return extremum("minimum", "MinimumBackward0", a, b, false);
}

// condition ? a : b;  d/da = [condition], d/db = 1 - [condition]
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  detail::check_defined(condition, "where");
  const Shape shape =
      broadcast_shape(condition.shape(), broadcast_shape(a.shape(), b.shape(), "where"), "where");
  const Tensor mask = expand(condition.detach(), shape);
  const Tensor a_full = expand(a.detach(), shape), b_full = expand(b.detach(), shape);
  Tensor out = empty(shape);
  for (int64_t i = 0; i < out.numel(); ++i) {
    out.data()[i] = mask.data()[i] != 0.f ? a_full.data()[i] : b_full.data()[i];
  }
  return record("WhereBackward0", std::move(out), {a, b}, {mask},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, const BackwardContext& ctx) {
                  const Tensor zero = zeros({});
                  const Tensor& mask = ctx.saved[0];
                  return Grads{grad_if(ctx, 0, [&] { return sum_to(where(mask, g, zero), sa); }),
                               grad_if(ctx, 1, [&] { return sum_to(where(mask, zero, g), sb); })};
                });
}

// -- comparisons: 0/1 masks, not differentiable ------------------------------------------------

Tensor eq(const Tensor& a, const Tensor& b) {
  return broadcast_binary("eq", a, b, [](float x, float y) { return float(x == y); });
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return broadcast_binary("ne", a, b, [](float x, float y) { return float(x != y); });
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return broadcast_binary("lt", a, b, [](float x, float y) { return float(x < y); });
}
Tensor le(const Tensor& a, const Tensor& b) {
  return broadcast_binary("le", a, b, [](float x, float y) { return float(x <= y); });
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return broadcast_binary("gt", a, b, [](float x, float y) { return float(x > y); });
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return broadcast_binary("ge", a, b, [](float x, float y) { return float(x >= y); });
}

// -- operators: a float operand is a 0-d constant ----------------------------------------------

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, float b) { return add(a, scalar_tensor(b)); }
Tensor operator-(const Tensor& a, float b) { return sub(a, scalar_tensor(b)); }
Tensor operator*(const Tensor& a, float b) { return mul(a, scalar_tensor(b)); }
Tensor operator/(const Tensor& a, float b) { return div(a, scalar_tensor(b)); }
Tensor operator+(float a, const Tensor& b) { return add(scalar_tensor(a), b); }
Tensor operator-(float a, const Tensor& b) { return sub(scalar_tensor(a), b); }
Tensor operator*(float a, const Tensor& b) { return mul(scalar_tensor(a), b); }
Tensor operator/(float a, const Tensor& b) { return div(scalar_tensor(a), b); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, float b) { return eq(a, scalar_tensor(b)); }
Tensor operator!=(const Tensor& a, float b) { return ne(a, scalar_tensor(b)); }
Tensor operator<(const Tensor& a, float b) { return lt(a, scalar_tensor(b)); }
Tensor operator<=(const Tensor& a, float b) { return le(a, scalar_tensor(b)); }
Tensor operator>(const Tensor& a, float b) { return gt(a, scalar_tensor(b)); }
Tensor operator>=(const Tensor& a, float b) { return ge(a, scalar_tensor(b)); }

}  // namespace ember
