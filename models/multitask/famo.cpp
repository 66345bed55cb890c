// FAMO: Liu, Liu, Jin, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS
// 2023 (Algorithm 1), following the authors' famo.py (github.com/Cranial-XIX/FAMO).
//
// FAMO seeks the update that decreases every task's log-loss at an equal rate, at the cost
// of one backward pass. With z = softmax(ξ) and D_i = L_i + ε (ε = 1e-8; the authors' code
// subtracts a lower bound of each loss, 0 by default and here):
//   model:   ∇_θ Σ_i (z_i / c) log D_i = Σ_i w_i ∇_θ L_i,  w_i = z_i / (c D_i),
//            c = Σ_i z_i / D_i  (a constant, so that Σ w_i = 1)
//   weights: after the model's step, with the losses recomputed on the same batch,
//            δ = J_softmax(ξ)ᵀ (log D(t) - log D(t+1)),  i.e. δ_j = z_j (Δ_j - Σ_i z_i Δ_i),
//            and ξ takes one Adam step on the gradient δ with L2 weight decay γ: a task that
//            improved more than average loses weight.
// The Adam on ξ is PyTorch's (bias-corrected moments, weight decay added to the gradient).
// Its lr 0.025 is the authors' default; γ = 1e-3 is LibMTL's FAMO default (the authors'
// famo.py defaults to 0.01 and their experiments set it per benchmark). The authors' code
// also clips the shared gradients to norm 1; here clipping is the trainer's option
// (TrainerOptions::clip_grad_norm), not part of the method.

#include <cmath>

#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/multitask/weighting.h>

namespace ember::models::mtl {

namespace {
constexpr double kEpsilon = 1e-8;
}

FAMO::FAMO(int64_t tasks, FamoOptions options) : options_(options) {
  if (tasks < 1) throw Error("FAMO: " + std::to_string(tasks) + " tasks");
  const auto check = [](bool ok, const std::string& what, double value) {
    if (!ok) throw Error("FAMO: invalid " + what + " " + std::to_string(value));
  };
  check(options.lr >= 0, "lr", options.lr);
  check(options.weight_decay >= 0, "weight_decay", options.weight_decay);
  check(options.beta1 >= 0 && options.beta1 < 1, "beta1", options.beta1);
  check(options.beta2 >= 0 && options.beta2 < 1, "beta2", options.beta2);
  check(options.eps >= 0, "eps", options.eps);
  logits_ = register_buffer("logits", zeros({tasks}));
  exp_avg_ = register_buffer("exp_avg", zeros({tasks}));
  exp_avg_sq_ = register_buffer("exp_avg_sq", zeros({tasks}));
  step_ = register_buffer("step", zeros({1}));
  losses_ = register_buffer("losses", full({tasks}, -1.f));  // -1: no backward yet
}

std::vector<double> FAMO::task_weights() const {
  std::vector<double> z;
  double total = 0;
  for (float xi : logits_.to_vector()) {
    z.push_back(std::exp(static_cast<double>(xi)));
    total += z.back();
  }
  for (double& zi : z) zi /= total;
  return z;
}

void FAMO::backward(const std::vector<Tensor>& losses) {
  const int64_t T = logits_.numel();
  const Tensor L = detail::loss_vector("FAMO", losses, T);  // [T]
  const std::vector<double> z = task_weights();
  double c = 0;
  for (int64_t i = 0; i < T; ++i) {
    const double loss = L.data()[i];
    if (!(loss >= 0)) throw Error("FAMO: the loss of task " + std::to_string(i) + " is negative");
    c += z[i] / (loss + kEpsilon);
  }
  std::vector<float> coefficients;  // z_i / c
  last_weights_.clear();
  for (int64_t i = 0; i < T; ++i) {
    coefficients.push_back(static_cast<float>(z[i] / c));
    last_weights_.push_back(z[i] / (c * (L.data()[i] + kEpsilon)));
    losses_.data()[i] = L.data()[i];
  }
  sum(tensor(coefficients, {T}) * log(L + static_cast<float>(kEpsilon))).backward();
}

void FAMO::after_step(const std::vector<double>& losses_after) {
  const int64_t T = logits_.numel();
  if (static_cast<int64_t>(losses_after.size()) != T) {
    throw Error("FAMO::after_step: " + std::to_string(losses_after.size()) + " losses for " +
                std::to_string(T) + " tasks");
  }
  if (losses_.data()[0] < 0.f) throw Error("FAMO::after_step: called before any backward()");
  const std::vector<double> z = task_weights();
  std::vector<double> improvement;  // Δ_i = log D_i(t) - log D_i(t+1)
  double weighted = 0;              // Σ z_i Δ_i
  for (int64_t i = 0; i < T; ++i) {
    improvement.push_back(std::log(losses_.data()[i] + kEpsilon) -
                          std::log(losses_after[i] + kEpsilon));
    weighted += z[i] * improvement.back();
  }
  // One step of PyTorch's Adam on ξ with gradient δ + γ ξ.
  const double t = ++step_.data()[0];
  const double correction1 = 1 - std::pow(options_.beta1, t);
  const double correction2 = 1 - std::pow(options_.beta2, t);
  float *xi = logits_.data(), *m = exp_avg_.data(), *v = exp_avg_sq_.data();
  for (int64_t j = 0; j < T; ++j) {
    const double g = z[j] * (improvement[j] - weighted) + options_.weight_decay * xi[j];
    m[j] = static_cast<float>(options_.beta1 * m[j] + (1 - options_.beta1) * g);
    v[j] = static_cast<float>(options_.beta2 * v[j] + (1 - options_.beta2) * g * g);
    const double denominator = std::sqrt(v[j]) / std::sqrt(correction2) + options_.eps;
    xi[j] = static_cast<float>(xi[j] - options_.lr / correction1 * m[j] / denominator);
  }
}

}  // namespace ember::models::mtl
