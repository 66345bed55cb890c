#pragma once
// Small dense solvers behind the Gramian-based aggregators (UPGrad, Nash-MTL): the Gramian
// of a Jacobian, a Cholesky solve and an exact bound-constrained quadratic program, all in
// double precision on T x T matrices (T = the number of tasks, a handful). Internal to
// models/multitask: not installed (cmake/install.cmake leaves this header out).

#include <cstdint>
#include <string>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::models::mtl::qp {

/// A dense square matrix of doubles, row-major.
struct Matrix {
  int64_t n = 0;
  std::vector<double> values;  // [n * n]
  double& operator()(int64_t i, int64_t j) { return values[i * n + j]; }
  double operator()(int64_t i, int64_t j) const { return values[i * n + j]; }
};

/// mtl::gramian (gramian.h) as a Matrix. Throws Error "<method>: ..." as check_jacobian does,
/// and for rows that are not finite (checked on G's diagonal, Σ_p J_ip², which is not finite
/// exactly when row i has a non-finite entry or overflows).
Matrix gramian(const Tensor& jacobian, const std::string& method);

/// Solves A x = b for a symmetric positive-definite A by Cholesky; returns false (and leaves
/// b unspecified) when A is not numerically positive definite.
bool cholesky_solve(Matrix a, std::vector<double>& b);

/// A minimiser of vᵀ G v subject to v >= lower (elementwise), for a symmetric positive
/// semi-definite G (unique when G is definite), by the primal active-set method (Nocedal &
/// Wright, Numerical Optimization, §16.5): exact up to rounding after finitely many steps.
/// Throws Error "<method>: ..." when a subproblem's Cholesky factorisation fails (G not
/// positive semi-definite, or rounding on a nearly singular G) or the method does not end.
std::vector<double> min_quadratic_above(const Matrix& g, const std::vector<double>& lower,
                                        const std::string& method);

}  // namespace ember::models::mtl::qp
