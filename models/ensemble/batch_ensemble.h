#pragma once
// BatchEnsemble (Wen, Tran & Ba, "BatchEnsemble: an alternative approach to efficient ensemble
// and lifelong learning", ICLR 2020, arXiv:2002.06715): K members share one weight W and each
// adds only a rank-1 "fast weight" s_k r_kᵀ, so member k's weight is W_k = W ⊙ (s_k r_kᵀ).
// Because (W ⊙ s rᵀ) x = s ⊙ (W (r ⊙ x)), all K members run as ONE GEMM with W over the B·K
// rows of the scaled inputs, at the memory of one network plus K·(in + out) numbers a layer.
// The layers work member-minor ([B, K, ...]) like nn::BatchedLinear; the network hands out
// [K, B, out] like BatchedMLP.
//
//   models::BatchEnsembleNet net(4, {.inputs = 10, .hidden = {50}, .tasks = {regression("y")}});
//   std::vector<Tensor> outputs = net.forward(x);  // per task [K, B, out]

#include <cstdint>
#include <string>
#include <vector>

#include <ember/core/tensor.h>
#include <ember/models/multitask_net.h>
#include <ember/nn/containers.h>
#include <ember/nn/module.h>

namespace ember::models {

/// y[b, k] = ((x[b, k] ⊙ r[k]) · Wᵀ) ⊙ s[k] + bias[k]: x [B, K, in] (member k reads x[:, k])
/// or [B, in] (every member reads it), weight [out, in], r [K, in], s [K, out], bias [K, out]
/// (optional) -> [B, K, out], member-minor as batched_linear. Throws Error for shapes that do
/// not fit.
Tensor batch_ensemble_linear(const Tensor& x, const Tensor& weight, const Tensor& r,
                             const Tensor& s, const Tensor& bias = {});

/// One BatchEnsemble layer with K members. The shared weight [out, in] is initialised like
/// PyTorch's Linear, U(-1/√in, 1/√in), and so is each member's bias [K, out]. The fast
/// weights r [K, in] and s [K, out] follow `random_sign_init`, as the paper's reference code
/// (uncertainty-baselines, make_sign_initializer) reads its flag of that name: a value p > 0
/// draws random signs, +1 with probability p (the paper's "random sign" initialisation);
/// p < 0 draws N(1, -p) (its CIFAR baselines' default, -0.5, i.e. N(1, 0.5), is ours); 0 sets
/// them to 1 (every member starts as the shared network). Throws Error for a size < 1 or
/// random_sign_init > 1.
class BatchEnsembleLinear : public nn::Layer {
 public:
  BatchEnsembleLinear(int64_t members, int64_t in_features, int64_t out_features, bool bias = true,
                      float random_sign_init = -0.5f);

  /// x [B, K, in] or [B, in] -> [B, K, out] (batch_ensemble_linear).
  Tensor forward(const Tensor& x) override;
  /// The members' full weights W_k = W ⊙ (s_k r_kᵀ), [K, out, in] (differentiable).
  Tensor member_weights() const;
  std::string extra_repr() const override;

  Tensor weight;  // [out, in], shared
  Tensor r;       // [K, in], scales each member's inputs
  Tensor s;       // [K, out], scales each member's outputs
  Tensor bias;    // [K, out]; undefined when built without bias

 private:
  int64_t members_, in_features_, out_features_;
};

/// A BatchEnsemble MLP of MultiTaskNet's architecture: every Linear of the trunk and heads is
/// a BatchEnsembleLinear. x [B, F] or [K, B, F] -> one output per task, [K, B, out]. In the
/// paper's training, the batch is split between members (x [K, B/K, F]); at test time every
/// member reads the whole batch (x [B, F]). Throws Error for members < 1, random_sign_init > 1
/// and any config MultiTaskNet rejects.
class BatchEnsembleNet : public nn::Module {
 public:
  BatchEnsembleNet(int64_t members, MultiTaskNetConfig config, float random_sign_init = -0.5f);

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
