#pragma once
// Loss weightings: Balancers that turn the task losses L_i into one scalar Σ w_i L_i (plus,
// for some, a term of their own) and backpropagate it once. Each method's formula, paper and
// what it takes from LibMTL or the authors' code stand beside it in its .cpp file:
//   UncertaintyWeighting   uncertainty.cpp   Kendall, Gal & Cipolla, CVPR 2018
//   GradNorm               gradnorm.cpp      Chen et al., ICML 2018
//   DynamicWeightAverage   dwa.cpp           Liu, Johns & Davison, CVPR 2019
//   FAMO                   famo.cpp          Liu et al., NeurIPS 2023
//
// Every piece of state (learnable weights, loss histories, an inner optimizer's moments) is a
// registered parameter or buffer, so a Trainer checkpoint resumes a run exactly. Learnable
// weights (uncertainty's s, GradNorm's logits) must be added to the model's optimizer, e.g.
// `adam.add_param_group({balancer.parameters()})`.

#include <cstdint>
#include <vector>

#include <ember/core/tensor.h>
#include <ember/models/multitask/balancer.h>
#include <ember/models/task.h>

namespace ember::models::mtl {

/// Uncertainty weighting: a learnable log-variance s_i = log σ_i² per task (parameter
/// "log_variance" [T], initialised to 0), and
///   L = Σ_i c_i exp(-s_i) L_i + ½ s_i,   c_i = ½ for regression tasks, 1 for classification.
/// last_weights() are c_i exp(-s_i). Throws Error for no tasks.
class UncertaintyWeighting : public Balancer {
 public:
  explicit UncertaintyWeighting(const std::vector<Task>& tasks);
  std::string name() const override { return "uncertainty"; }
  bool linear_in_task_gradients() const override { return true; }
  /// Throws Error when `losses` does not hold one scalar per task.
  void backward(const std::vector<Tensor>& losses) override;
  /// s [T], the parameter itself.
  const Tensor& log_variance() const { return log_variance_; }
  /// σ_i = exp(s_i / 2), the learned noise scale of each task.
  std::vector<double> sigma() const;

 private:
  std::vector<float> scales_;  // c_i
  Tensor log_variance_;
};

/// GradNorm: weights w = T softmax(ξ) (learnable logits ξ, parameter "logits" [T], initialised
/// to 0, so w starts at 1 and always has w_i > 0, Σ w_i = T). Each step the model gets
/// ∂(Σ w_i L_i)/∂θ with w held fixed, and ξ gets the gradient of the GradNorm loss
///   Σ_i |G_i - Ḡ r_i^α|,  G_i = |∇_W w_i L_i|,  r_i = L̃_i / mean(L̃),  L̃_i = L_i / L_i(0),
/// where W is the last shared layer, Ḡ = mean(G) and Ḡ r_i^α is held constant. L_i(0), the
/// losses of the first step, are kept in the buffer "initial_losses" [T].
class GradNorm : public Balancer {
 public:
  /// `last_shared`: the weight W of the last layer every task shares. Throws Error for an
  /// undefined `last_shared`, tasks < 1 or alpha < 0.
  GradNorm(Tensor last_shared, int64_t tasks, double alpha = 1.5);
  std::string name() const override { return "gradnorm"; }
  /// Throws Error when `losses` does not hold one scalar per task, or when a first-step loss
  /// is not positive (L̃ divides by it).
  void backward(const std::vector<Tensor>& losses) override;
  /// w = T softmax(ξ) [T], without a graph.
  Tensor weights() const;
  const Tensor& logits() const { return logits_; }
  /// L(0) [T]: zeros until the first backward() fills them.
  const Tensor& initial_losses() const { return initial_losses_; }

 private:
  Tensor last_shared_;
  double alpha_;
  Tensor logits_;
  Tensor initial_losses_;  // 0 until the first step
};

/// Dynamic Weight Average: w_i(t) = T exp(r_i / τ) / Σ_j exp(r_j / τ) with
/// r_i = L_i(t-1) / L_i(t-2), the ratio of task i's mean losses over the last two epochs
/// (given by on_epoch_end), temperature τ; w = 1 until two epochs have ended. Buffers:
/// "epoch_losses" [2, T] (the last two epochs' means, older first) and "epochs" [1].
class DynamicWeightAverage : public Balancer {
 public:
  /// Throws Error for tasks < 1 or temperature <= 0.
  explicit DynamicWeightAverage(int64_t tasks, double temperature = 2.0);
  std::string name() const override { return "dwa"; }
  bool linear_in_task_gradients() const override { return true; }
  /// Throws Error when `losses` does not hold one scalar per task.
  void backward(const std::vector<Tensor>& losses) override;
  /// Throws Error unless `mean_task_losses` holds T positive, finite values.
  void on_epoch_end(const std::vector<double>& mean_task_losses) override;
  /// The weights the next backward() uses.
  std::vector<double> weights() const;

 private:
  double temperature_;
  Tensor epoch_losses_;
  Tensor epochs_;
};

/// FAMO's options: its own Adam on the logits ξ (PyTorch's Adam, L2 weight decay γ).
struct FamoOptions {
  double lr = 0.025;
  double weight_decay = 1e-3;  // γ
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

/// Fast Adaptive Multitask Optimization: weights z = softmax(ξ) over logits ξ (buffer
/// "logits" [T], 0 at the start); the model gets the gradient of
///   Σ_i (z_i / c) log(L_i + ε),  c = Σ_i z_i / (L_i + ε),  ε = 1e-8,
/// i.e. of Σ w_i L_i with w_i = z_i / (c (L_i + ε)), Σ w_i = 1. After the optimizer step,
/// after_step() takes the losses recomputed on the same batch and moves ξ by one Adam step
/// along δ = J_softmax(ξ)ᵀ (log(L(t) + ε) - log(L(t+1) + ε)). The Adam state is in buffers
/// "exp_avg", "exp_avg_sq" [T] and "step" [1]; the step's losses in "losses" [T].
class FAMO : public Balancer {
 public:
  /// Throws Error for tasks < 1 or invalid options (lr < 0, weight_decay < 0, betas outside
  /// [0, 1), eps < 0).
  explicit FAMO(int64_t tasks, FamoOptions options = {});
  std::string name() const override { return "famo"; }
  /// Throws Error when `losses` does not hold one scalar per task, or a loss is negative.
  void backward(const std::vector<Tensor>& losses) override;
  bool needs_losses_after_step() const override { return true; }
  /// Throws Error when `losses_after` does not hold T values, or before any backward().
  void after_step(const std::vector<double>& losses_after) override;
  /// z = softmax(ξ) [T].
  std::vector<double> task_weights() const;
  const Tensor& logits() const { return logits_; }

 private:
  FamoOptions options_;
  Tensor logits_, exp_avg_, exp_avg_sq_, step_, losses_;
};

namespace detail {
/// The T task losses as one tensor [T] (with their graphs). Throws Error naming `method` when
/// there are not `tasks` of them or one is not a single number.
Tensor loss_vector(const char* method, const std::vector<Tensor>& losses, int64_t tasks);
}  // namespace detail

}  // namespace ember::models::mtl
