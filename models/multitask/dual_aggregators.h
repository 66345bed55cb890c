#pragma once
// Two aggregators that work on the Gramian G = J Jᵀ [T, T] of the Jacobian J [T, P] (row i
// is task i's gradient g_i): UPGrad and Nash-MTL. Both cost, beyond the T backward passes
// that JacobianBalancer spends on J, O(T² P) for G and O(T P) for d = Jᵀ w; the T x T solves
// are negligible for the handful of tasks these methods are used with.

#include <string>

#include <ember/core/tensor.h>
#include <ember/models/multitask/balancer.h>

namespace ember::models::mtl {

/// UPGrad (Quinton & Rey 2024, "Jacobian Descent for Multi-Objective Optimization",
/// arXiv:2406.16232), torchjd's default aggregator. Each row is projected onto the dual cone
/// of the rows, {x : J x >= 0}, and the projections are averaged:
///   d = (1/T) Σ_i Jᵀ w_i,   w_i = argmin_{w >= e_i} wᵀ G w   (the paper's Proposition 1).
/// So d has a non-negative inner product with every row (no task's loss rises to first
/// order), and d is the mean of the rows when no two rows conflict (G >= 0 elementwise).
/// As torchjd does: G is divided by its trace (replaced by zero when the trace is below
/// `norm_eps`) and `reg_eps`·I is added before the quadratic programs; with reg_eps > 0 an
/// inner product can fall below zero by up to reg_eps·trace(G)·w_ij. last_weights() is
/// w = (1/T) Σ_i w_i, so d = Jᵀ w.
class UPGrad : public Aggregator {
 public:
  /// Throws Error when norm_eps or reg_eps is negative or not finite.
  explicit UPGrad(double norm_eps = 1e-4, double reg_eps = 1e-4);
  std::string name() const override { return "upgrad"; }
  /// J [T, P] -> d [P]; any T and P, reg_eps = 0 included. Throws Error when J is not a
  /// finite [T, P] CPU tensor.
  Tensor operator()(const Tensor& jacobian) override;

 private:
  double norm_eps_, reg_eps_;
};

/// Nash-MTL (Navon et al. 2022, "Multi-Task Learning as a Bargaining Game", ICML): the
/// update d = Jᵀ α whose weights α > 0 solve the Nash bargaining condition
///   α_i (G α)_i = 1 for every i   (the paper's Gᵀ G α = 1/α, its G being our Jᵀ),
/// i.e. every task gains g_iᵀ d = 1/α_i. The paper's code (which torchjd and LibMTL follow)
/// approaches α through up to 20 convex programs solved by cvxpy, warm-started from the last
/// step. ember instead minimises the strictly convex f(α) = ½ αᵀ G α - Σ log α_i, whose
/// stationary point is that condition, by Newton's method with a backtracking line search
/// that keeps α > 0, until max_i |α_i (G α)_i - 1| <= 1e-10 (or rounding level, see
/// nash_mtl.cpp): no warm start, so d depends on J alone. As in the paper's code, G is divided
/// by its Frobenius norm first (α is scaled back after), and d is shrunk to norm `max_norm`
/// when longer (max_norm <= 0: never). At the solution |d|² = αᵀ G α = T, so the default
/// max_norm = 1 makes |d| = 1 for T >= 2.
/// The solution exists only while no non-negative combination of the rows vanishes (the
/// paper assumes linearly independent gradients); near such a point α grows without bound.
/// `reg_eps`·I added to the normalised G keeps α_i <= 1/sqrt(reg_eps) there, and moves the
/// condition elsewhere by reg_eps·α_i² (α_i is of order 1 after the normalisation).
/// last_weights() is α after the max_norm scaling; all zeros, with d = 0, when J = 0.
class NashMTL : public Aggregator {
 public:
  /// Throws Error when reg_eps is negative or either argument is not finite.
  explicit NashMTL(double max_norm = 1.0, double reg_eps = 1e-10);
  std::string name() const override { return "nash_mtl"; }
  /// J [T, P] -> d [P]. Throws Error when J is not a finite [T, P] CPU tensor, or when
  /// Newton's method does not converge (singular G with reg_eps = 0).
  Tensor operator()(const Tensor& jacobian) override;

 private:
  double max_norm_, reg_eps_;
};

}  // namespace ember::models::mtl
