#pragma once
// MultiTaskNet: the configurable form of the seed's MultiTaskModel (hard parameter sharing):
// a trunk of Linear layers with an activation and optional dropout, then one Linear head per
// task, each as wide as its task needs.

#include <cstdint>
#include <string>
#include <vector>

#include <ember/models/task.h>
#include <ember/nn/containers.h>
#include <ember/nn/module.h>

namespace ember::models {

struct MultiTaskNetConfig {
  int64_t inputs = 0;                // features F
  std::vector<int64_t> hidden = {};  // trunk widths; empty: heads read the inputs
  std::string activation = "relu";   // relu, tanh, gelu, sigmoid or leaky_relu
  float dropout = 0.f;               // after every trunk activation (0: none)
  std::vector<Task> tasks{};         // one head per task, named after it
};

/// x [B, F] -> trunk [B, hidden.back()] -> one output per task: [B, 1] for regression and
/// binary tasks, [B, C] logits for C-way tasks. Parameters are named like PyTorch's
/// equivalent: "trunk.0.weight", ..., "heads.<task>.weight". Throws Error for inputs < 1, a
/// width < 1, an unknown activation, dropout outside [0, 1), no tasks, or two tasks with one
/// name.
class MultiTaskNet : public nn::Module {
 public:
  explicit MultiTaskNet(MultiTaskNetConfig config);
  std::vector<Tensor> forward(const Tensor& x);
  const MultiTaskNetConfig& config() const { return config_; }
  /// The parameters every task depends on: the trunk's (empty without hidden layers). What
  /// a JacobianBalancer takes as `shared`.
  std::vector<Tensor> shared_parameters() const;

  nn::Sequential& trunk;
  nn::ModuleDict& heads;

 private:
  MultiTaskNetConfig config_;
};

/// Hard sharing's forward, for MultiTaskNet and its batched forms: `trunk` (skipped when
/// empty), then every head of `heads` on its output, in insertion order.
std::vector<Tensor> trunk_then_heads(nn::Sequential& trunk, const nn::ModuleDict& heads,
                                     const Tensor& x);

/// Throws Error, its message starting with `owner`, for a config MultiTaskNet rejects (above).
void check_config(const MultiTaskNetConfig& config, const std::string& owner);

}  // namespace ember::models
