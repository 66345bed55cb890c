#pragma once
// BatchedMLP: K members of one MultiTaskNet architecture run as one model. Each Linear of the
// members becomes one nn::BatchedLinear whose parameters are the K members' stacked [K, ...],
// so a forward is one batched GEMM per layer instead of K small ones, the graph has one node
// per layer instead of K, and an optimizer step walks a few stacked tensors instead of K
// times as many small ones. Results equal the looped Ensemble's (tests/test_batched_ensemble).
//
//   models::Ensemble looped(8, [&](int64_t) { return models::MultiTaskNet(config); });
//   models::BatchedMLP batched = models::BatchedMLP::from_ensemble(looped);
//   std::vector<Tensor> outputs = batched.forward(x);  // per task [K, B, out]
//   models::Ensemble back = batched.to_ensemble();

#include <cstdint>
#include <vector>

#include <ember/core/tensor.h>
#include <ember/models/ensemble/ensemble.h>
#include <ember/models/multitask_net.h>
#include <ember/models/seed.h>
#include <ember/nn/containers.h>
#include <ember/nn/module.h>

namespace ember::models {

/// x [B, F] (every member reads it) or [K, B, F] (member k reads x[k]) -> one output per task,
/// [K, B, out] (member k's at k). Parameters are named like a MultiTaskNet's with a leading
/// member dim: "trunk.0.weight" [K, hidden[0], F], "heads.<task>.bias" [K, out]. Each member
/// is initialised like a MultiTaskNet (PyTorch's Linear init), but draws in another order,
/// so BatchedMLP(K, config) does not equal K MultiTaskNet(config) made in a row; convert with
/// from_ensemble for that. Dropout, if configured, draws an independent mask per member.
/// Throws Error for members < 1 and for any config MultiTaskNet rejects.
class BatchedMLP : public nn::Module {
 public:
  BatchedMLP(int64_t members, MultiTaskNetConfig config);

  /// The batched form of `ensemble`, whose members must all be MultiTaskNets of one config:
  /// its parameters are copies of theirs, stacked. Draws (then overwrites) a fresh
  /// initialisation from the calling thread's generator. Throws Error for another member type or
  /// configs that differ.
  static BatchedMLP from_ensemble(const Ensemble& ensemble);
  /// The batched form of the seed's EnsembleModel (members 10 -> 50 -> 1, ReLU): a one-task
  /// ("y", regression) config. forward(x)[0] is [K, B, 1]; its mean over dim 0 is the seed's
  /// forward(x).
  static BatchedMLP from_seed(const EnsembleModel& seed);
  /// The looped form: an Ensemble of K MultiTaskNets holding copies of this model's
  /// parameters (member k's are slice k). Draws the members' initialisation from the global
  /// generator before overwriting it.
  Ensemble to_ensemble() const;

  std::vector<Tensor> forward(const Tensor& x);

  int64_t size() const { return members_; }
  const MultiTaskNetConfig& config() const { return config_; }
  std::string extra_repr() const override;

  nn::Sequential& trunk;
  nn::ModuleDict& heads;

 private:
  int64_t members_;
  MultiTaskNetConfig config_;
};

}  // namespace ember::models
