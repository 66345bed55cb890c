// CAGrad (Liu et al. 2021, Algorithm 1). Within the ball |d - g0| <= c|g0| around the mean
// gradient g0 = (1/T) Σ g_i, CAGrad picks the d that maximises the smallest g_i · d. Its dual
// is a problem over the simplex:
//   w* = argmin_w  F(w) = g_wᵀ g0 + c |g0| |g_w|,   g_w = Σ w_i g_i,
//   d  = g0 + (c |g0| / |g_w*|) g_w*,
// so d = Σ (1/T + c |g0| w*_i / |g_w*|) g_i, and c = 0 gives the mean. With the Gramian,
// g_wᵀ g0 = wᵀG1/T, |g0|² = 1ᵀG1/T² and |g_w|² = wᵀGw.
//
// We return the paper's d. The authors' code (and LibMTL, with its `rescale` option) can
// divide it by 1 + c² (their default) or by 1 + c; we do not. They solve for w with SciPy's
// SLSQP; we use projected gradient descent on the simplex with a backtracking step, since F
// is convex and T is small, until the step moves w by less than 1e-12 (the reference test
// holds d to 1e-5 of SciPy's solution). If g_w* = 0, d = g0, which is also what the authors'
// code gives (it divides by |g_w| + 1e-8).

#include <ember/error.h>
#include <ember/models/multitask/aggregators.h>
#include <ember/models/multitask/gramian.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

namespace ember::models::mtl {

namespace {

/// The Euclidean projection of v onto the simplex {w >= 0, Σ w = 1} (sort-based: shift by
/// the τ that makes the positive parts sum to one).
std::vector<double> project_to_simplex(const std::vector<double>& v) {
  std::vector<double> sorted = v;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  double prefix = 0, tau = 0;
  for (size_t k = 0; k < sorted.size(); ++k) {
    prefix += sorted[k];
    const double candidate = (prefix - 1) / double(k + 1);
    if (sorted[k] - candidate > 0) tau = candidate;
  }
  std::vector<double> w(v.size());
  for (size_t k = 0; k < v.size(); ++k) w[k] = std::max(v[k] - tau, 0.0);
  return w;
}

}  // namespace

CAGrad::CAGrad(double c) : c_(c) {
  if (!(c >= 0)) throw Error("CAGrad: c must be >= 0, got " + std::to_string(c));
}

Tensor CAGrad::operator()(const Tensor& jacobian) {
  check_jacobian("CAGrad", jacobian);
  const int64_t T = jacobian.size(0);
  const std::vector<double> G = gramian(jacobian);
  std::vector<double> G_mean(static_cast<size_t>(T), 0.0);  // G1/T: g_i · g0
  double mean_norm_sq = 0;                                  // |g0|²
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t k = 0; k < T; ++k) G_mean[i] += G[i * T + k] / double(T);
    mean_norm_sq += G_mean[i] / double(T);
  }
  const double radius = c_ * std::sqrt(std::max(mean_norm_sq, 0.0));  // c|g0|
  std::vector<double> weights(static_cast<size_t>(T), 1.0 / double(T));
  if (radius > 0) {
    // F(w) and its gradient ∇F = G1/T + c|g0| Gw / |g_w|, at w.
    const auto evaluate = [&](const std::vector<double>& w, std::vector<double>* gradient) {
      std::vector<double> Gw(static_cast<size_t>(T), 0.0);
      double linear = 0, norm_sq = 0;
      for (int64_t r = 0; r < T; ++r) {
        for (int64_t k = 0; k < T; ++k) Gw[r] += G[r * T + k] * w[k];
        linear += w[r] * G_mean[r];
        norm_sq += w[r] * Gw[r];
      }
      const double norm = std::sqrt(std::max(norm_sq, 0.0));
      if (gradient) {
        for (int64_t r = 0; r < T; ++r) {
          (*gradient)[r] = G_mean[r] + (norm > 0 ? radius * Gw[r] / norm : 0.0);
        }
      }
      return linear + radius * norm;
    };
    std::vector<double> w = weights, gradient(static_cast<size_t>(T)), next(static_cast<size_t>(T));
    double largest = 0;
    for (int64_t t = 0; t < T; ++t) largest = std::max(largest, G[t * T + t]);
    double step = 1 / largest;  // grows and shrinks with the backtracking below
    double value = evaluate(w, &gradient);
    for (int iteration = 0; iteration < 10000; ++iteration) {
      // Backtrack until the projected step decreases F as its quadratic model promises.
      double moved = 0, next_value = 0;
      for (;;) {
        std::vector<double> trial(static_cast<size_t>(T));
        for (int64_t r = 0; r < T; ++r) trial[r] = w[r] - step * gradient[r];
        next = project_to_simplex(trial);
        next_value = evaluate(next, nullptr);
        double model = value;
        moved = 0;
        for (int64_t r = 0; r < T; ++r) {
          const double delta = next[r] - w[r];
          model += gradient[r] * delta + delta * delta / (2 * step);
          moved += delta * delta;
        }
        if (next_value <= model || moved == 0) break;
        step /= 2;
      }
      w = next;
      value = evaluate(w, &gradient);
      if (std::sqrt(moved) < 1e-12) break;
      step *= 2;
    }
    double norm_sq = 0;  // |g_w*|²
    for (int64_t r = 0; r < T; ++r) {
      for (int64_t k = 0; k < T; ++k) norm_sq += w[r] * G[r * T + k] * w[k];
    }
    if (norm_sq > 0) {
      const double scale = radius / std::sqrt(norm_sq);
      for (int64_t i = 0; i < T; ++i) weights[i] += scale * w[i];
    }
  }
  last_weights_ = weights;
  return combine_rows(jacobian, weights);
}

}  // namespace ember::models::mtl
