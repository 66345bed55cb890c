#pragma once
// The seed's two models, translated line for line from the Python that started the project:
// a multi-task network (shared trunk, one head per task) and an ensemble of three small
// regressors whose predictions are averaged.

#include <vector>

#include <ember/nn/activation.h>
#include <ember/nn/containers.h>
#include <ember/nn/linear.h>
#include <ember/nn/module.h>

namespace ember::models {

/// Trunk 10 -> 50 -> 10 (ReLU between), then three 10 -> 1 task heads.
/// x [B, 10] -> three outputs [B, 1].
struct MultiTaskModel : nn::Module {
  nn::Sequential& shared_layers = register_module(
      "shared_layers", nn::Sequential(nn::Linear(10, 50), nn::ReLU(), nn::Linear(50, 10)));
  nn::ModuleList& task_specific_layers =
      register_module("task_specific_layers",
                      nn::ModuleList(nn::Linear(10, 1), nn::Linear(10, 1), nn::Linear(10, 1)));

  std::vector<Tensor> forward(const Tensor& x);
};

/// Three members 10 -> 50 -> 1 (ReLU between); the prediction is their mean.
/// x [B, 10] -> [B, 1].
struct EnsembleModel : nn::Module {
  nn::ModuleList& models = register_module("models", nn::ModuleList());

  explicit EnsembleModel(int num_models = 3);
  /// Each member's prediction [B, 1], in order (what the seed's forward collects).
  std::vector<Tensor> member_outputs(const Tensor& x);
  /// The mean of member_outputs(x).
  Tensor forward(const Tensor& x);
};

}  // namespace ember::models
