#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/multitask/gramian.h>
#include <ember/models/multitask/qp.h>

#include <algorithm>
#include <cmath>

namespace ember::models::mtl::qp {

Matrix gramian(const Tensor& jacobian, const std::string& method) {
  check_jacobian(method, jacobian);
  Matrix g{jacobian.size(0), mtl::gramian(jacobian)};
  for (int64_t i = 0; i < g.n; ++i) {
    if (!std::isfinite(g(i, i)))
      throw Error(method + ": the Jacobian " + to_string(jacobian.shape()) +
                  " has a non-finite entry in row " + std::to_string(i));
  }
  return g;
}

bool cholesky_solve(Matrix a, std::vector<double>& b) {
  const int64_t n = a.n;
  // A = L Lᵀ, L stored in the lower triangle of a. A pivot below 1e-12 of its diagonal entry
  // means A is singular to working precision (rounding leaves ~n·1e-16 there).
  for (int64_t j = 0; j < n; ++j) {
    double pivot = a(j, j);
    for (int64_t k = 0; k < j; ++k) pivot -= a(j, k) * a(j, k);
    if (!(pivot > 1e-12 * a(j, j))) return false;
    a(j, j) = std::sqrt(pivot);
    for (int64_t i = j + 1; i < n; ++i) {
      double s = a(i, j);
      for (int64_t k = 0; k < j; ++k) s -= a(i, k) * a(j, k);
      a(i, j) = s / a(j, j);
    }
  }
  for (int64_t i = 0; i < n; ++i) {  // L y = b
    for (int64_t k = 0; k < i; ++k) b[i] -= a(i, k) * b[k];
    b[i] /= a(i, i);
  }
  for (int64_t i = n - 1; i >= 0; --i) {  // Lᵀ x = y
    for (int64_t k = i + 1; k < n; ++k) b[i] -= a(k, i) * b[k];
    b[i] /= a(i, i);
  }
  return true;
}

std::vector<double> min_quadratic_above(const Matrix& g, const std::vector<double>& lower,
                                        const std::string& method) {
  // KKT conditions of min vᵀGv s.t. v >= l: G v = μ with μ >= 0, v >= l and μ_i (v_i - l_i) = 0.
  // The working set holds the bounds treated as equalities ("fixed"). Each step solves the
  // problem with the free variables unconstrained, G_FF v_F = -G_FB l_B; if that leaves the
  // feasible set, it walks to the first bound it meets and fixes it; otherwise it frees the
  // fixed variable with the most negative multiplier μ_i = (G v)_i, or stops when none is
  // negative. The objective strictly decreases, so no working set repeats. A semi-definite G
  // never makes a subproblem singular: freeing v_k with μ_k < 0 where the Schur complement of
  // G_FF in G_{F+k} vanished would give a direction of slope μ_k < 0 and zero curvature, along
  // which vᵀGv >= 0 would fall without bound.
  const int64_t n = g.n;
  std::vector<double> v = lower;
  std::vector<bool> fixed(static_cast<size_t>(n), true);
  double diagonal = 0;
  for (int64_t i = 0; i < n; ++i) diagonal = std::max(diagonal, g(i, i));
  const int64_t max_steps = 50 * (n + 1);
  for (int64_t step = 0; step < max_steps; ++step) {
    std::vector<int64_t> free;
    for (int64_t i = 0; i < n; ++i)
      if (!fixed[i]) free.push_back(i);
    std::vector<double> target = v;
    if (!free.empty()) {
      const int64_t m = static_cast<int64_t>(free.size());
      Matrix sub{m, std::vector<double>(static_cast<size_t>(m * m))};
      std::vector<double> rhs(static_cast<size_t>(m), 0.0);
      for (int64_t a = 0; a < m; ++a) {
        for (int64_t b = 0; b < m; ++b) sub(a, b) = g(free[a], free[b]);
        for (int64_t j = 0; j < n; ++j)
          if (fixed[j]) rhs[a] -= g(free[a], j) * lower[j];
      }
      if (!cholesky_solve(sub, rhs))
        throw Error(method + ": the Gramian [" + std::to_string(n) + ", " + std::to_string(n) +
                    "] is not positive semi-definite to working precision");
      for (int64_t a = 0; a < m; ++a) target[free[a]] = rhs[a];
    }
    double t = 1;
    int64_t blocking = -1;
    for (int64_t i : free)
      if (target[i] < lower[i]) {
        const double reach = (v[i] - lower[i]) / (v[i] - target[i]);
        if (reach < t) t = reach, blocking = i;
      }
    for (int64_t i = 0; i < n; ++i) v[i] += t * (target[i] - v[i]);
    if (blocking >= 0) {
      v[blocking] = lower[blocking];
      fixed[blocking] = true;
      continue;
    }
    double scale = 0;
    for (double x : v) scale = std::max(scale, std::abs(x));
    const double tolerance = 1e-12 * diagonal * scale * static_cast<double>(n);
    int64_t most_negative = -1;
    double smallest = -tolerance;
    for (int64_t i = 0; i < n; ++i) {
      if (!fixed[i]) continue;
      double multiplier = 0;
      for (int64_t j = 0; j < n; ++j) multiplier += g(i, j) * v[j];
      if (multiplier < smallest) smallest = multiplier, most_negative = i;
    }
    if (most_negative < 0) return v;
    fixed[most_negative] = false;
  }
  throw Error(method + ": the active-set solver did not finish in " + std::to_string(max_steps) +
              " steps on a [" + std::to_string(n) + ", " + std::to_string(n) + "] Gramian");
}

}  // namespace ember::models::mtl::qp
