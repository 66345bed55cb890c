#pragma once
// What every Jacobian aggregator needs: the shape check, the Gramian G = J Jᵀ (the methods
// solve their small problems on it, in double, at T×T cost instead of T×P), and d = wᵀJ.

#include <string>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::models::mtl {

/// Throws Error naming `method` and the shape unless `jacobian` is a defined float [T, P]
/// CPU tensor with T >= 1 and P >= 1.
void check_jacobian(const std::string& method, const Tensor& jacobian);

/// G = J Jᵀ in double, row-major [T, T]: G_ij = g_i · g_j for the rows g_i of J [T, P].
std::vector<double> gramian(const Tensor& jacobian);

/// d = Σ_i w_i g_i [P] (summed in double, returned as float) for J [T, P] and T weights.
Tensor combine_rows(const Tensor& jacobian, const std::vector<double>& weights);

}  // namespace ember::models::mtl
