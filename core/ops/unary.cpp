// Elementwise unary ops. Ops whose derivative is a function of their output (exp, sqrt,
// sigmoid, tanh, relu) save the output rather than recomputing it.

#include <cmath>
#include <numbers>

#include <ember/core/ops/common.h>

namespace ember {

using detail::unary_map;

// -x;  d/dx = -1
Tensor neg(const Tensor& x) {
  Tensor out = unary_map("neg", x, [](float v) { return -v; });
  return record("NegBackward0", std::move(out), {x}, {},
                [](const Tensor& g, const BackwardContext&) { return Grads{-g}; });
}

Tensor Tensor::operator-() const { return neg(*this); }

// exp(x);  d/dx = exp(x)
Tensor exp(const Tensor& x) {
  Tensor out = unary_map("exp", x, [](float v) { return std::exp(v); });
  return record(
      "ExpBackward0", std::move(out), {x}, {},
      [](const Tensor& g, const BackwardContext& ctx) { return Grads{g * ctx.output}; }, true);
}

// ln(x);  d/dx = 1/x
Tensor log(const Tensor& x) {
  Tensor out = unary_map("log", x, [](float v) { return std::log(v); });
  return record(
      "LogBackward0", std::move(out), {x}, {x},
      [](const Tensor& g, const BackwardContext& ctx) { return Grads{g / ctx.saved[0]}; });
}

// √x;  d/dx = 1/(2√x)
Tensor sqrt(const Tensor& x) {
  Tensor out = unary_map("sqrt", x, [](float v) { return std::sqrt(v); });
  return record(
      "SqrtBackward0", std::move(out), {x}, {},
      [](const Tensor& g, const BackwardContext& ctx) { return Grads{g / (2.f * ctx.output)}; },
      true);
}

// |x|;  d/dx = sign(x), 0 at x = 0
Tensor abs(const Tensor& x) {
  Tensor out = unary_map("abs", x, [](float v) { return std::fabs(v); });
  return record("AbsBackward0", std::move(out), {x}, {x},
                [](const Tensor& g, const BackwardContext& ctx) {
                  const Tensor& x = ctx.saved[0];
                  return Grads{g * ((x > 0.f) - (x < 0.f))};
                });
}

namespace {
// relu's backward: g where y > 0, else 0, in one pass (not g * (y > 0), which builds a mask
// tensor first). Linear in g, so its own backward is itself (as PyTorch's
// threshold_backward); the mask is constant almost everywhere, so y gets no gradient.
// g, y: the same shape; result: that shape
Tensor threshold_backward(const Tensor& g, const Tensor& y) {
  Tensor out = detail::gradient_out(g);
  kernels::cpu::zip(g.data(), y.data(), out.data(), g.numel(),
                    [](float gv, float yv) { return yv > 0.f ? gv : 0.f; });
  return record("ThresholdBackwardBackward0", std::move(out), {g}, {y},
                [](const Tensor& gg, const BackwardContext& ctx) {
                  return Grads{threshold_backward(gg, ctx.saved[0])};
                });
}
}  // namespace

// max(x, 0);  d/dx = [x > 0]
Tensor relu(const Tensor& x) {
  Tensor out = unary_map("relu", x, [](float v) { return v > 0.f ? v : 0.f; });
  return record(
      "ReluBackward0", std::move(out), {x}, {},
      [](const Tensor& g, const BackwardContext& ctx) {
        return Grads{threshold_backward(g, ctx.output)};
      },
      true);
}

// σ(x) = 1/(1 + e^-x);  d/dx = σ(x)(1 - σ(x))
Tensor sigmoid(const Tensor& x) {
  // Split by sign so exp never overflows: for v < 0 use e^v / (1 + e^v).
  Tensor out = unary_map("sigmoid", x, [](float v) {
    if (v >= 0.f) return 1.f / (1.f + std::exp(-v));
    const float e = std::exp(v);
    return e / (1.f + e);
  });
  return record(
      "SigmoidBackward0", std::move(out), {x}, {},
      [](const Tensor& g, const BackwardContext& ctx) {
        return Grads{g * ctx.output * (1.f - ctx.output)};
      },
      true);
}

// tanh(x);  d/dx = 1 - tanh(x)²
Tensor tanh(const Tensor& x) {
  Tensor out = unary_map("tanh", x, [](float v) { return std::tanh(v); });
  return record(
      "TanhBackward0", std::move(out), {x}, {},
      [](const Tensor& g, const BackwardContext& ctx) {
        return Grads{g * (1.f - ctx.output * ctx.output)};
      },
      true);
}

// erf(x);  d/dx = 2/√π · e^(-x²)
Tensor erf(const Tensor& x) {
  Tensor out = unary_map("erf", x, [](float v) { return std::erf(v); });
  return record("ErfBackward0", std::move(out), {x}, {x},
                [](const Tensor& g, const BackwardContext& ctx) {
                  const Tensor& x = ctx.saved[0];
                  return Grads{g * (2.f / std::sqrt(std::numbers::pi_v<float>)) * exp(-(x * x))};
                });
}

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluCubic = 0.044715f;              // Hendrycks & Gimpel (2016), eq. for tanh form
}  // namespace

// erf form: x·Φ(x);  d/dx = Φ(x) + x·φ(x), Φ(x) = ½(1 + erf(x/√2)), φ(x) = e^(-x²/2)/√(2π)
// tanh form: ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³);
//            d/dx = ½(1 + tanh(u)) + ½x(1 - tanh²(u))·√(2/π)(1 + 3·0.044715x²)
Tensor gelu(const Tensor& x, bool tanh_approximation) {
  Tensor out = tanh_approximation
                   ? unary_map("gelu", x,
                               [](float v) {
                                 const float u = kSqrt2OverPi * (v + kGeluCubic * v * v * v);
                                 return 0.5f * v * (1.f + std::tanh(u));
                               })
                   : unary_map("gelu", x, [](float v) {
                       return 0.5f * v * (1.f + std::erf(v * std::numbers::sqrt2_v<float> / 2.f));
                     });
  return record("GeluBackward0", std::move(out), {x}, {x},
                [tanh_approximation](const Tensor& g, const BackwardContext& ctx) {
                  const Tensor& x = ctx.saved[0];
                  if (tanh_approximation) {
                    const Tensor t = tanh(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
                    const Tensor du = kSqrt2OverPi * (1.f + 3.f * kGeluCubic * x * x);
                    return Grads{g * (0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * du)};
                  }
                  const float inv_sqrt_2pi =
                      0.5f * std::numbers::inv_sqrtpi_v<float> * std::numbers::sqrt2_v<float>;
                  const Tensor cdf = 0.5f * (1.f + erf(x * (std::numbers::sqrt2_v<float> / 2.f)));
                  const Tensor pdf = inv_sqrt_2pi * exp(-0.5f * x * x);
                  return Grads{g * (cdf + x * pdf)};
                });
}

// log(1 + e^(βx))/β, linear above the threshold;  d/dx = σ(βx), 1 above the threshold
Tensor softplus(const Tensor& x, float beta, float threshold) {
  Tensor out = unary_map("softplus", x, [beta, threshold](float v) {
    return v * beta > threshold ? v : std::log1p(std::exp(v * beta)) / beta;
  });
  return record("SoftplusBackward0", std::move(out), {x}, {x},
                [beta, threshold](const Tensor& g, const BackwardContext& ctx) {
                  const Tensor bx = ctx.saved[0] * beta;
                  return Grads{g * where(bx > threshold, ones({}), sigmoid(bx))};
                });
}

// min(max(x, lo), hi);  d/dx = [lo <= x <= hi]
Tensor clamp(const Tensor& x, float min, float max) {
  if (min > max) {
    throw Error("clamp: min " + std::to_string(min) + " is greater than max " +
                std::to_string(max));
  }
  Tensor out = unary_map("clamp", x, [min, max](float v) {
    return std::isnan(v) ? v : std::min(std::max(v, min), max);
  });
  return record("ClampBackward1", std::move(out), {x}, {x},
                [min, max](const Tensor& g, const BackwardContext& ctx) {
                  const Tensor& x = ctx.saved[0];
                  return Grads{g * (x >= min) * (x <= max)};
                });
}

}  // namespace ember
