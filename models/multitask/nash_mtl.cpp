#include <ember/error.h>
#include <ember/models/multitask/dual_aggregators.h>
#include <ember/models/multitask/gramian.h>
#include <ember/models/multitask/qp.h>

#include <algorithm>
#include <cmath>

namespace ember::models::mtl {

NashMTL::NashMTL(double max_norm, double reg_eps) : max_norm_(max_norm), reg_eps_(reg_eps) {
  if (!std::isfinite(max_norm) || !(reg_eps >= 0) || !std::isfinite(reg_eps))
    throw Error("nash_mtl: max_norm must be finite and reg_eps finite and >= 0, got " +
                std::to_string(max_norm) + " and " + std::to_string(reg_eps));
}

namespace {

// α > 0 with α_i (G α)_i = 1: the minimiser of f(α) = ½ αᵀ G α - Σ log α_i, since
// ∇f = G α - 1/α. f is strictly convex (its Hessian G + diag(1/α²) is positive definite)
// and self-concordant, so damped Newton converges from any α > 0 and quadratically near the
// solution. The step is taken in relative coordinates α ⊙ (1 + s), where the Newton system
// (D G D + I) s = -r, D = diag(α), r = α ⊙ G α - 1, has eigenvalues >= 1 and needs no
// pivoting. Once the Newton decrement λ² = -rᵀ s is below 1/16 the full step is taken
// (|s_i| <= λ < 1 keeps α > 0); before that, backtracking halves the step until α stays
// positive and f falls by the Armijo fraction 1e-4 of the predicted decrease.
std::vector<double> bargaining_weights(const qp::Matrix& g) {
  const int64_t T = g.n;
  auto objective = [&](const std::vector<double>& alpha) {
    double value = 0;
    for (int64_t i = 0; i < T; ++i) {
      for (int64_t j = 0; j < T; ++j) value += 0.5 * alpha[i] * g(i, j) * alpha[j];
      value -= std::log(alpha[i]);
    }
    return value;
  };
  std::vector<double> alpha(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) {
    if (!(g(i, i) > 0))
      throw Error("nash_mtl: task " + std::to_string(i) +
                  "'s gradient is zero, so no weights satisfy α_i (Gα)_i = 1 (use reg_eps > 0)");
    alpha[i] = 1 / std::sqrt(g(i, i));  // solves the diagonal part exactly
  }
  constexpr int kMaxSteps = 100;
  double residual = 0;
  for (int step = 0; step < kMaxSteps; ++step) {
    // Converged when every |r_i| <= 1e-10, or, where α_i (G α)_i is a difference of much
    // larger terms (near a Pareto-stationary point), within 1e-14 of those terms' size.
    std::vector<double> r(static_cast<size_t>(T));
    bool converged = true;
    residual = 0;
    for (int64_t i = 0; i < T; ++i) {
      double g_alpha = 0, terms = 0;
      for (int64_t j = 0; j < T; ++j) {
        g_alpha += g(i, j) * alpha[j];
        terms += std::abs(g(i, j)) * alpha[j];
      }
      r[i] = alpha[i] * g_alpha - 1;
      residual = std::max(residual, std::abs(r[i]));
      converged = converged && std::abs(r[i]) <= 1e-10 + 1e-14 * alpha[i] * terms;
    }
    if (converged) return alpha;
    qp::Matrix h{T, std::vector<double>(static_cast<size_t>(T * T))};
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j) h(i, j) = alpha[i] * g(i, j) * alpha[j] + (i == j ? 1 : 0);
    std::vector<double> s(static_cast<size_t>(T));
    for (int64_t i = 0; i < T; ++i) s[i] = -r[i];
    if (!qp::cholesky_solve(h, s)) break;  // only when G has non-finite entries
    double decrement = 0;
    for (int64_t i = 0; i < T; ++i) decrement -= r[i] * s[i];
    double t = 1;
    if (decrement >= 1.0 / 16) {
      const double before = objective(alpha);
      for (; t > 1e-12; t /= 2) {
        std::vector<double> trial = alpha;
        bool positive = true;
        for (int64_t i = 0; i < T; ++i) {
          trial[i] *= 1 + t * s[i];
          positive = positive && trial[i] > 0;
        }
        if (positive && objective(trial) <= before - 1e-4 * t * decrement) break;
      }
    }
    for (int64_t i = 0; i < T; ++i) alpha[i] *= 1 + t * s[i];
  }
  throw Error("nash_mtl: Newton's method did not converge in " + std::to_string(kMaxSteps) +
              " steps on a [" + std::to_string(T) + ", " + std::to_string(T) +
              "] Gramian (max |α_i (Gα)_i - 1| = " + std::to_string(residual) +
              "); the gradients may be Pareto-stationary, use reg_eps > 0");
}

}  // namespace

Tensor NashMTL::operator()(const Tensor& jacobian) {
  qp::Matrix g = qp::gramian(jacobian, "nash_mtl");
  const int64_t T = g.n;
  double frobenius = 0;
  for (double x : g.values) frobenius += x * x;
  frobenius = std::sqrt(frobenius);
  if (frobenius == 0) {
    last_weights_.assign(static_cast<size_t>(T), 0.0);
    return zeros({jacobian.size(1)});
  }
  qp::Matrix normalised = g;
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j)
      normalised(i, j) = g(i, j) / frobenius + (i == j ? reg_eps_ : 0);
  // α̂ solves the condition for G / |G|_F, so α = α̂ / sqrt(|G|_F) solves it for G.
  std::vector<double> alpha = bargaining_weights(normalised);
  for (double& a : alpha) a /= std::sqrt(frobenius);
  if (max_norm_ > 0) {
    double squared_norm = 0;  // |d|² = |Jᵀα|² = αᵀ G α
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j) squared_norm += alpha[i] * g(i, j) * alpha[j];
    const double norm = std::sqrt(squared_norm);
    if (norm > max_norm_)
      for (double& a : alpha) a *= max_norm_ / norm;
  }
  last_weights_ = alpha;
  return combine_rows(jacobian, alpha);
}

}  // namespace ember::models::mtl
