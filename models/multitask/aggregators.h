#pragma once
// Gradient aggregators: PCGrad, MGDA and CAGrad. Each combines the rows g_i of a Jacobian
// J [T, P] (one per task, see balancer.h) into one update d [P] = Σ w_i g_i, solving its
// small problem in double on the Gramian G = J Jᵀ [T, T], so that the cost beyond the
// Jacobian itself is O(T² P) for G and d plus an O(T²)-per-iteration solver. Each sets
// last_weights() to its w. Use them through JacobianBalancer (make_balancer("pcgrad", ...)).

#include <cstdint>
#include <string>

#include <ember/core/tensor.h>
#include <ember/models/multitask/balancer.h>

namespace ember::models::mtl {

/// PCGrad (Yu et al. 2020, "Gradient Surgery for Multi-Task Learning"): each g_i is
/// projected onto the normal plane of every g_j it conflicts with (g_i · g_j < 0), visiting
/// the other tasks in a random order; d is the sum of the projected gradients.
/// Throws Error for a Jacobian that is not a non-empty [T, P] matrix.
class PCGrad : public Aggregator {
 public:
  /// `shuffle`: a new random order of the other tasks for every g_i, drawn from the
  /// calling thread's generator (manual_seed makes it reproducible), as in the paper; false visits
  /// them in index order (for tests; with two tasks the order does not matter).
  explicit PCGrad(bool shuffle = true) : shuffle_(shuffle) {}
  std::string name() const override { return "pcgrad"; }
  Tensor operator()(const Tensor& jacobian) override;

 private:
  bool shuffle_;
};

/// MGDA (Sener & Koltun 2018, "Multi-Task Learning as Multi-Objective Optimization"): d is
/// the point of minimum norm in the convex hull of the rows, d = Σ w_i g_i with w in the
/// simplex minimising |d|². Two tasks: closed form; more: pairwise Frank–Wolfe on the
/// Gramian.
/// Throws Error for a Jacobian that is not a non-empty [T, P] matrix.
class MGDA : public Aggregator {
 public:
  /// Frank–Wolfe (T > 2) stops after `max_iterations`, or once its duality gap
  /// wᵀGw - min_t (Gw)_t, which bounds |d|² - |d*|², is at most `tolerance` · max_t G_tt.
  /// Throws Error for max_iterations < 1 or tolerance < 0.
  explicit MGDA(int64_t max_iterations = 100000, double tolerance = 1e-12);
  std::string name() const override { return "mgda"; }
  Tensor operator()(const Tensor& jacobian) override;

 private:
  int64_t max_iterations_;
  double tolerance_;
};

/// CAGrad (Liu et al. 2021, "Conflict-Averse Gradient Descent for Multi-task Learning"):
/// d = g0 + (c |g0| / |g_w|) g_w, with g0 the mean gradient and g_w = Σ w_i g_i for the w
/// in the simplex that minimises g_wᵀ g0 + c |g0| |g_w|. c = 0 gives the mean.
/// Throws Error for a Jacobian that is not a non-empty [T, P] matrix.
class CAGrad : public Aggregator {
 public:
  /// `c` >= 0: the radius of the ball around g0 (as a fraction of |g0|) in which d
  /// maximises the worst task's improvement. Throws Error for c < 0 or NaN.
  explicit CAGrad(double c = 0.5);
  std::string name() const override { return "cagrad"; }
  Tensor operator()(const Tensor& jacobian) override;

 private:
  double c_;
};

}  // namespace ember::models::mtl
