// PCGrad (Yu et al. 2020, Algorithm 1). For each task i, starting from g_i^PC = g_i:
//   for j ≠ i in a random order:  if g_i^PC · g_j < 0:  g_i^PC -= (g_i^PC · g_j / |g_j|²) g_j
// with the original g_j, and d = Σ_i g_i^PC. Like the paper (and LibMTL, which also sums
// rather than averages), the update is a sum, so with no conflicts d = Σ g_i, the same
// update as equal weighting.
//
// Every g_i^PC stays a combination of the original rows, g_i^PC = Σ_k C_ik g_k, so the
// projections run on the coefficients with the Gramian, g_i^PC · g_j = Σ_k C_ik G_kj, and
// J is read only to build G and d = Σ_k (Σ_i C_ik) g_k.

#include <ember/core/random.h>
#include <ember/models/multitask/aggregators.h>
#include <ember/models/multitask/gramian.h>

#include <numeric>

namespace ember::models::mtl {

Tensor PCGrad::operator()(const Tensor& jacobian) {
  check_jacobian("PCGrad", jacobian);
  const int64_t T = jacobian.size(0);
  const std::vector<double> G = gramian(jacobian);
  std::vector<double> weights(static_cast<size_t>(T), 0.0);
  std::vector<int64_t> order(static_cast<size_t>(T));
  std::vector<double> row(static_cast<size_t>(T));  // C_i·, the coefficients of g_i^PC
  for (int64_t i = 0; i < T; ++i) {
    if (shuffle_) {
      const std::vector<float> permutation = randperm(T).to_vector();
      for (int64_t k = 0; k < T; ++k) order[k] = static_cast<int64_t>(permutation[k]);
    } else {
      std::iota(order.begin(), order.end(), int64_t{0});
    }
    std::fill(row.begin(), row.end(), 0.0);
    row[i] = 1.0;
    for (const int64_t j : order) {
      if (j == i) continue;
      double dot = 0;  // g_i^PC · g_j
      for (int64_t k = 0; k < T; ++k) dot += row[k] * G[k * T + j];
      // A conflict needs g_j ≠ 0, so G_jj > 0 here.
      if (dot < 0) row[j] -= dot / G[j * T + j];
    }
    for (int64_t k = 0; k < T; ++k) weights[k] += row[k];
  }
  last_weights_ = weights;
  return combine_rows(jacobian, weights);
}

}  // namespace ember::models::mtl
