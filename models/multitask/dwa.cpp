// Dynamic Weight Average: Liu, Johns & Davison, "End-to-End Multi-Task Learning with
// Attention", CVPR 2019, eq. 7:
//   w_i(t) = T exp(r_i(t-1) / τ) / Σ_j exp(r_j(t-1) / τ),   r_i(t-1) = L_i(t-1) / L_i(t-2)
// with L_i(t) the mean loss of task i over epoch t and τ = 2. A task whose loss fell less
// over the last epoch gets more weight; Σ w_i = T. The first two epochs, which have no ratio
// yet, use w = 1 (as the paper and LibMTL's DWA).

#include <cmath>

#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/multitask/weighting.h>

namespace ember::models::mtl {

DynamicWeightAverage::DynamicWeightAverage(int64_t tasks, double temperature)
    : temperature_(temperature) {
  if (tasks < 1) throw Error("DynamicWeightAverage: " + std::to_string(tasks) + " tasks");
  if (!(temperature > 0)) {
    throw Error("DynamicWeightAverage: temperature " + std::to_string(temperature) + " <= 0");
  }
  epoch_losses_ = register_buffer("epoch_losses", zeros({2, tasks}));
  epochs_ = register_buffer("epochs", zeros({1}));
}

std::vector<double> DynamicWeightAverage::weights() const {
  const int64_t T = epoch_losses_.size(1);
  if (epochs_.item() < 2.f) return std::vector<double>(T, 1.0);
  const float* older = epoch_losses_.data();  // L(t-2)
  const float* last = older + T;              // L(t-1)
  std::vector<double> exps;
  double total = 0;
  for (int64_t i = 0; i < T; ++i) {
    exps.push_back(std::exp(static_cast<double>(last[i]) / older[i] / temperature_));
    total += exps.back();
  }
  for (double& e : exps) e *= static_cast<double>(T) / total;
  return exps;
}

void DynamicWeightAverage::backward(const std::vector<Tensor>& losses) {
  const int64_t T = epoch_losses_.size(1);
  const Tensor L = detail::loss_vector("DynamicWeightAverage", losses, T);  // [T]
  last_weights_ = weights();
  const std::vector<float> w(last_weights_.begin(), last_weights_.end());
  sum(tensor(w, {T}) * L).backward();
}

void DynamicWeightAverage::on_epoch_end(const std::vector<double>& mean_task_losses) {
  const int64_t T = epoch_losses_.size(1);
  if (static_cast<int64_t>(mean_task_losses.size()) != T) {
    throw Error("DynamicWeightAverage::on_epoch_end: " + std::to_string(mean_task_losses.size()) +
                " losses for " + std::to_string(T) + " tasks");
  }
  for (size_t i = 0; i < mean_task_losses.size(); ++i) {
    if (!(mean_task_losses[i] > 0) || !std::isfinite(mean_task_losses[i])) {
      throw Error("DynamicWeightAverage::on_epoch_end: the mean loss of task " + std::to_string(i) +
                  " is " + std::to_string(mean_task_losses[i]) +
                  "; loss ratios need positive, finite losses");
    }
  }
  float* older = epoch_losses_.data();
  float* last = older + T;
  for (int64_t i = 0; i < T; ++i) {
    older[i] = last[i];
    last[i] = static_cast<float>(mean_task_losses[i]);
  }
  epochs_.data()[0] += 1.f;
}

}  // namespace ember::models::mtl
