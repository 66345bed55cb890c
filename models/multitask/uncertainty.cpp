// Uncertainty weighting: Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to
// Weigh Losses for Scene Geometry and Semantics", CVPR 2018.
//
// Each task's likelihood has a noise scale σ_i, learned with the network. For a Gaussian
// likelihood (regression, paper eq. 7) the negative log-likelihood of an L2 loss L_i is
// L_i / (2σ²) + log σ; for a softmax with temperature σ² (classification) the paper
// approximates it by L_i / σ² + log σ (eq. 10, using (1/σ²) Σ exp(f/σ²) ≈ (Σ exp f)^(1/σ²)).
// With s = log σ², for numerical stability as the paper advises:
//   regression      ½ exp(-s) L + ½ s
//   classification    exp(-s) L + ½ s
//   ∂/∂s = ½ - c exp(-s) L  (c = ½ or 1): at the optimum exp(s) = 2c L, so for a mean squared
//   error σ² converges to the residual variance.
// LibMTL's UW uses the regression form for every task and starts s at -0.5; here each task
// takes the form of its type and s starts at 0 (σ = 1), as the paper describes.

#include <cmath>

#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/multitask/weighting.h>

namespace ember::models::mtl {

UncertaintyWeighting::UncertaintyWeighting(const std::vector<Task>& tasks) {
  if (tasks.empty()) throw Error("UncertaintyWeighting: no tasks");
  for (const Task& task : tasks) scales_.push_back(task.type == TaskType::regression ? 0.5f : 1.f);
  log_variance_ = register_parameter("log_variance", zeros({static_cast<int64_t>(tasks.size())}));
}

void UncertaintyWeighting::backward(const std::vector<Tensor>& losses) {
  const int64_t T = log_variance_.numel();
  const Tensor L = detail::loss_vector("UncertaintyWeighting", losses, T);  // [T]
  const Tensor c = tensor(scales_, {T});
  sum(c * exp(neg(log_variance_)) * L + 0.5f * log_variance_).backward();
  last_weights_.clear();
  for (int64_t i = 0; i < T; ++i)
    last_weights_.push_back(scales_[i] * std::exp(-static_cast<double>(log_variance_.data()[i])));
}

std::vector<double> UncertaintyWeighting::sigma() const {
  std::vector<double> sigmas;
  for (float s : log_variance_.to_vector()) sigmas.push_back(std::exp(0.5 * s));
  return sigmas;
}

}  // namespace ember::models::mtl
