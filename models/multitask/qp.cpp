#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/multitask/qp.h>

#include <algorithm>
#include <cmath>

namespace ember::models::mtl::qp {

namespace {

// Σ_p a_p b_p in double. Eight independent partial sums, so that the compiler can keep
// several multiply-adds in flight (and vectorise them) without reassociating one long sum.
double dot(const float* a, const float* b, int64_t n) {
  double partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t p = 0;
  for (; p + 8 <= n; p += 8)
    for (int k = 0; k < 8; ++k)
      partial[k] += static_cast<double>(a[p + k]) * static_cast<double>(b[p + k]);
  double total = 0;
  for (; p < n; ++p) total += static_cast<double>(a[p]) * static_cast<double>(b[p]);
  for (double s : partial) total += s;
  return total;
}

}  // namespace

Matrix gramian(const Tensor& jacobian, const std::string& method) {
  if (!jacobian.defined()) throw Error(method + ": the Jacobian is undefined");
  if (jacobian.dim() != 2 || jacobian.size(0) < 1 || jacobian.size(1) < 1)
    throw Error(method + ": the Jacobian must be [T, P] with T, P >= 1, got " +
                to_string(jacobian.shape()));
  if (jacobian.device() != Device::CPU)
    throw Error(method + ": the Jacobian " + to_string(jacobian.shape()) + " must be on the CPU");
  const int64_t T = jacobian.size(0), P = jacobian.size(1);
  const float* J = jacobian.data();
  Matrix g{T, std::vector<double>(static_cast<size_t>(T * T))};
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t j = 0; j <= i; ++j) g(i, j) = g(j, i) = dot(J + i * P, J + j * P, P);
    if (!std::isfinite(g(i, i)))
      throw Error(method + ": the Jacobian " + to_string(jacobian.shape()) +
                  " has a non-finite entry in row " + std::to_string(i));
  }
  return g;
}

Tensor combine_rows(const Tensor& jacobian, const std::vector<double>& weights) {
  const int64_t T = jacobian.size(0), P = jacobian.size(1);
  const float* J = jacobian.data();
  std::vector<double> sum(static_cast<size_t>(P), 0.0);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t p = 0; p < P; ++p) sum[p] += weights[i] * static_cast<double>(J[i * P + p]);
  Tensor d = empty({P});
  float* out = d.data();
  for (int64_t p = 0; p < P; ++p) out[p] = static_cast<float>(sum[p]);
  return d;
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
