// MGDA (Sener & Koltun 2018): the min-norm point of the convex hull of the task gradients,
//   w* = argmin_{w ∈ simplex} |Σ w_i g_i|² = argmin wᵀGw,   d = Σ w*_i g_i.
// d = 0 means no direction decreases every loss (a Pareto-stationary point); otherwise -d
// decreases all of them. We return the paper's plain d; LibMTL can first normalise the
// gradients (by their norms, by the losses, or both, its `mgda_gn` option), which we do not.
//
// Two tasks (the paper's Algorithm 1): min over γ of |γ g1 + (1-γ) g2|² is at
//   γ = clamp((g2 - g1) · g2 / |g1 - g2|², 0, 1) = clamp((G22 - G12) / (G11 + G22 - 2 G12)).
// More tasks: Frank–Wolfe from w = 1/T toward the vertex e_t with the smallest (Gw)_t (the
// row most opposed to the current d), with an exact line search. The paper's Algorithm 2
// steps from d toward g_t; that plain form zigzags near a face and was 1e-2 off the exact
// minimum after 1000 iterations on a 5×10 case, so we take the pairwise step of
// Lacoste-Julien & Jaggi (2015), which moves weight from the worst vertex in use to e_t and
// converges linearly on well-posed faces (with the origin inside a degenerate hull, T > P + 1,
// it needs more steps: hence the high default cap). The authors' code (and LibMTL) stop when w
// changes by < 1e-5 or after 250 iterations; we stop on the duality gap wᵀGw - min_t (Gw)_t, which
// bounds how far |d|² is above its minimum, so the tolerance says what it guarantees.

#include <ember/error.h>
#include <ember/models/multitask/aggregators.h>
#include <ember/models/multitask/gramian.h>

#include <algorithm>
#include <string>

namespace ember::models::mtl {

namespace {

/// argmin over γ ∈ [0, 1] of |γ a + (1-γ) b|², given a·a, a·b and b·b.
double min_norm_step(double aa, double ab, double bb) {
  const double denominator = aa + bb - 2 * ab;  // |a - b|²
  if (denominator <= 0) return 0.5;             // a = b: every γ gives the same point
  return std::clamp((bb - ab) / denominator, 0.0, 1.0);
}

}  // namespace

MGDA::MGDA(int64_t max_iterations, double tolerance)
    : max_iterations_(max_iterations), tolerance_(tolerance) {
  if (max_iterations < 1 || !(tolerance >= 0)) {
    throw Error("MGDA: max_iterations must be >= 1 and tolerance >= 0, got " +
                std::to_string(max_iterations) + " and " + std::to_string(tolerance));
  }
}

Tensor MGDA::operator()(const Tensor& jacobian) {
  check_jacobian("MGDA", jacobian);
  const int64_t T = jacobian.size(0);
  const std::vector<double> G = gramian(jacobian);
  std::vector<double> w(static_cast<size_t>(T), 1.0 / double(T));
  if (T == 2) {
    const double gamma = min_norm_step(G[0], G[1], G[3]);
    w = {gamma, 1 - gamma};
  } else if (T > 2) {
    double largest = 0;
    for (int64_t t = 0; t < T; ++t) largest = std::max(largest, G[t * T + t]);
    std::vector<double> Gw(static_cast<size_t>(T));
    for (int64_t iteration = 0; iteration < max_iterations_; ++iteration) {
      for (int64_t r = 0; r < T; ++r) {
        Gw[r] = 0;
        for (int64_t k = 0; k < T; ++k) Gw[r] += G[r * T + k] * w[k];
      }
      double norm_sq = 0;  // |d|² = wᵀGw
      for (int64_t k = 0; k < T; ++k) norm_sq += w[k] * Gw[k];
      const int64_t t = std::min_element(Gw.begin(), Gw.end()) - Gw.begin();
      if (norm_sq - Gw[t] <= tolerance_ * largest) break;
      // Pairwise step: move weight from the away vertex a (in the support, largest (Gw)_a)
      // to t, by the exact minimiser of |d + γ (g_t - g_a)|² over γ ∈ [0, w_a].
      int64_t a = t;
      for (int64_t k = 0; k < T; ++k) {
        if (w[k] > 0 && (a == t || Gw[k] > Gw[a])) a = k;
      }
      const double curvature = G[t * T + t] + G[a * T + a] - 2 * G[t * T + a];
      if (a == t || curvature <= 0) break;
      const double gamma = std::clamp((Gw[a] - Gw[t]) / curvature, 0.0, w[a]);
      w[a] -= gamma;
      w[t] += gamma;
    }
  }
  last_weights_ = w;
  return combine_rows(jacobian, w);
}

}  // namespace ember::models::mtl
