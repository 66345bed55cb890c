#include <ember/error.h>
#include <ember/models/multitask/dual_aggregators.h>
#include <ember/models/multitask/gramian.h>
#include <ember/models/multitask/qp.h>

#include <cmath>

namespace ember::models::mtl {

UPGrad::UPGrad(double norm_eps, double reg_eps) : norm_eps_(norm_eps), reg_eps_(reg_eps) {
  if (!(norm_eps >= 0) || !std::isfinite(norm_eps) || !(reg_eps >= 0) || !std::isfinite(reg_eps))
    throw Error("upgrad: norm_eps and reg_eps must be finite and >= 0, got " +
                std::to_string(norm_eps) + " and " + std::to_string(reg_eps));
}

// Why a QP on G: the dual cone C = {x : J x >= 0} has the polar cone {-Jᵀλ : λ >= 0}, so
// projecting g_i = Jᵀe_i onto C leaves Jᵀ w_i with w_i = e_i + λ*, and |Jᵀ w|² = wᵀ G w; the
// paper's Proposition 1 turns the projection into min_{w >= e_i} wᵀ G w, T numbers instead of
// P. torchjd solves the same program with quadprog on u = e_i / T (the mean's weights); the
// program is homogeneous in its bound, so ember solves it for e_i and divides by T after.
// torchjd's normalisation (G / trace G, or 0 below norm_eps) and regularisation (+ reg_eps·I)
// are followed so that the two agree; the normalisation changes w only through reg_eps.
Tensor UPGrad::operator()(const Tensor& jacobian) {
  qp::Matrix g = qp::gramian(jacobian, "upgrad");
  const int64_t T = g.n;
  double trace = 0;
  for (int64_t i = 0; i < T; ++i) trace += g(i, i);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j)
      g(i, j) = (trace < norm_eps_ ? 0.0 : g(i, j) / trace) + (i == j ? reg_eps_ : 0.0);
  std::vector<double> weights(static_cast<size_t>(T), 0.0);
  for (int64_t i = 0; i < T; ++i) {
    std::vector<double> unit(static_cast<size_t>(T), 0.0);
    unit[i] = 1;
    const std::vector<double> w = qp::min_quadratic_above(g, unit, "upgrad");
    for (int64_t j = 0; j < T; ++j) weights[j] += w[j] / static_cast<double>(T);
  }
  last_weights_ = weights;
  return combine_rows(jacobian, weights);
}

}  // namespace ember::models::mtl
