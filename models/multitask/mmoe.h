#pragma once
// MMoE, Multi-gate Mixture-of-Experts (Ma et al. 2018, "Modeling Task Relationships in
// Multi-task Learning with Multi-gate Mixture-of-Experts", KDD, eqs. 6-8): E experts shared
// by all tasks, and one softmax gate per task that mixes them for that task's tower.
//
//   e_i(x) = expert_i(x)                  i = 1..E, each an MLP [B, F] -> [B, W]
//   g^k(x) = softmax(W_gk x + b_gk)        [B, E], one gate per task k
//   f^k(x) = Σ_i g^k(x)_i e_i(x)           [B, W]
//   y_k    = tower_k(f^k(x))               [B, output size of task k]
//
// The paper's gate has no bias (softmax(W_gk x)); this one, like LibMTL's nn.Linear gate,
// has one.

#include <cstdint>
#include <string>
#include <vector>

#include <ember/models/task.h>
#include <ember/nn/containers.h>
#include <ember/nn/module.h>

namespace ember::models {

struct MMoEConfig {
  int64_t inputs = 0;                       // features F
  int64_t experts = 0;                      // E >= 1
  std::vector<int64_t> expert_hidden = {};  // each expert's widths (>= 1 layer); W = back()
  std::vector<int64_t> tower_hidden = {};   // each tower's hidden widths before its output
  std::string activation = "relu";          // relu, tanh, gelu, sigmoid or leaky_relu
  float dropout = 0.f;                      // after every expert and tower activation
  std::vector<Task> tasks{};                // one gate and tower per task, named after it
};

/// Σ_i gate[:, i] · experts[i]: gate [B, E], E experts [B, W] -> [B, W].
Tensor mix_experts(const Tensor& gate, const std::vector<Tensor>& experts);

/// x [B, F] -> one output per task ([B, 1] regression/binary, [B, C] multiclass). Parameters
/// are named like the PyTorch equivalent: "experts.<i>.<layer>.weight", "gates.<task>.weight",
/// "towers.<task>.<layer>.weight". Throws Error for inputs < 1, experts < 1, no expert
/// layers, a width < 1, an unknown activation, dropout outside [0, 1), no tasks or two tasks
/// with one name.
class MMoE : public nn::Module {
 public:
  explicit MMoE(MMoEConfig config);
  std::vector<Tensor> forward(const Tensor& x);
  /// Each task's gate g^k(x) [B, E]: rows are softmaxes (sum to 1).
  std::vector<Tensor> gate_weights(const Tensor& x);
  /// The parameters every task depends on: the experts' (a gate serves one task). What a
  /// JacobianBalancer takes as `shared`.
  std::vector<Tensor> shared_parameters() const;
  const MMoEConfig& config() const { return config_; }

  nn::ModuleList& experts;  // E Sequentials
  nn::ModuleDict& gates;    // Linear(F, E) per task
  nn::ModuleDict& towers;   // Sequential per task

 private:
  MMoEConfig config_;
};

}  // namespace ember::models
