#include <ember/core/ops.h>
#include <ember/core/random.h>
#include <ember/error.h>
#include <ember/models/ensemble/batch_ensemble.h>
#include <ember/models/mlp.h>
#include <ember/nn/dropout.h>

#include <cmath>

namespace ember::models {

namespace {

// W_k = W ⊙ s_k r_kᵀ for every member -> [K, out, in]. The rank-1 matrices are K products of
// depth 1, [K, out, 1]·[K, 1, in], and W multiplies them as one [out·in] row per member: two
// broadcast products ([1, out, in] ⊙ [K, out, 1] ⊙ [K, 1, in]) compute the same, but walk
// K·out rows of `in` floats forward and again for the gradients: a K = 8 step of 10 -> 50 -> 1
// took 19% more instructions.
Tensor full_weights(const Tensor& weight, const Tensor& r, const Tensor& s) {
  return matmul(unsqueeze(s, 2), unsqueeze(r, 1)) * weight;
}

// The fast weights' initialisation; see BatchEnsembleLinear.
Tensor fast_weights(const Shape& shape, float random_sign_init) {
  if (random_sign_init > 0.f) return (uniform(shape, 0.f, 1.f) < random_sign_init) * 2.f - 1.f;
  if (random_sign_init < 0.f) return normal(shape, 1.f, -random_sign_init);
  return ones(shape);
}

}  // namespace

// Wen et al. 2020, eq. (1)-(2): member k's weight is W ⊙ s_k r_kᵀ, and
//   (W ⊙ s_k r_kᵀ) x = s_k ⊙ (W (r_k ⊙ x)),
// so the members' inputs are scaled by r, ONE GEMM with the shared W runs over all B·K rows,
// and the outputs are scaled by s. Composed of differentiable ops, so no backward of its own.
// Member-minor, as batched_linear: r, s and the bias are [K, ...] rows that repeat along B, so
// each scaling (and each sum over B that gives their gradients) walks rows of K·width floats
// rather than B·K rows of `width` (at K = 8 of 10 -> 50 -> 1, 18% fewer instructions a step).
// The same function also runs as batched_linear with the members' full weights W_k, which
// touches K·out·in numbers where the scalings touch B·K·(in + out): the cheaper way for small
// layers on large batches, taken when it is (the scalings keep the paper's low memory for
// large layers). At K = 8 of 10 -> 50 -> 1 on 64 rows: 45% fewer instructions a step.
Tensor batch_ensemble_linear(const Tensor& x, const Tensor& weight, const Tensor& r,
                             const Tensor& s, const Tensor& bias) {
  for (const Tensor* t : {&x, &weight, &r, &s}) {
    if (!t->defined()) throw Error("batch_ensemble_linear: got an undefined tensor");
  }
  const bool fits = weight.dim() == 2 && r.dim() == 2 && s.dim() == 2 &&
                    (x.dim() == 2 || (x.dim() == 3 && x.shape()[1] == r.shape()[0])) &&
                    x.shape().back() == weight.shape()[1] && r.shape()[1] == weight.shape()[1] &&
                    s.shape() == Shape{r.shape()[0], weight.shape()[0]} &&
                    (!bias.defined() || bias.shape() == s.shape());
  if (!fits) {
    throw Error("batch_ensemble_linear: input " + to_string(x.shape()) + ", weight " +
                to_string(weight.shape()) + ", r " + to_string(r.shape()) + ", s " +
                to_string(s.shape()) +
                (bias.defined() ? ", bias " + to_string(bias.shape()) : std::string()) +
                " do not fit (expected [B, K, in] or [B, in], [out, in], [K, in], [K, out], "
                "[K, out])");
  }
  const int64_t out = weight.shape()[0], in = weight.shape()[1], batch = x.shape()[0];
  if (out * in < batch * (in + out)) return batched_linear(x, full_weights(weight, r, s), bias);
  const Tensor scaled = (x.dim() == 2 ? unsqueeze(x, 1) : x) * r;  // [B, K, in]
  const Tensor y = linear(scaled, weight) * s;                     // [B, K, out]
  return bias.defined() ? y + bias : y;
}

BatchEnsembleLinear::BatchEnsembleLinear(int64_t members, int64_t in_features, int64_t out_features,
                                         bool bias, float random_sign_init)
    : members_(members), in_features_(in_features), out_features_(out_features) {
  if (members <= 0 || in_features <= 0 || out_features <= 0) {
    throw Error(
        "BatchEnsembleLinear: members, in_features and out_features must be positive, got " +
        std::to_string(members) + ", " + std::to_string(in_features) + " and " +
        std::to_string(out_features));
  }
  if (!(random_sign_init <= 1.f)) {
    throw Error(
        "BatchEnsembleLinear: random_sign_init must be <= 1 (a probability when > 0), got " +
        std::to_string(random_sign_init));
  }
  const float bound = 1.f / std::sqrt(static_cast<float>(in_features));
  weight = register_parameter("weight", uniform({out_features, in_features}, -bound, bound));
  r = register_parameter("r", fast_weights({members, in_features}, random_sign_init));
  s = register_parameter("s", fast_weights({members, out_features}, random_sign_init));
  if (bias)
    this->bias = register_parameter("bias", uniform({members, out_features}, -bound, bound));
}

Tensor BatchEnsembleLinear::forward(const Tensor& x) {
  return batch_ensemble_linear(x, weight, r, s, bias);
}

Tensor BatchEnsembleLinear::member_weights() const { return full_weights(weight, r, s); }

std::string BatchEnsembleLinear::extra_repr() const {
  return "members=" + std::to_string(members_) + ", in_features=" + std::to_string(in_features_) +
         ", out_features=" + std::to_string(out_features_) +
         ", bias=" + (bias.defined() ? "True" : "False");
}

BatchEnsembleNet::BatchEnsembleNet(int64_t members, MultiTaskNetConfig config,
                                   float random_sign_init)
    : trunk(register_module("trunk", nn::Sequential())),
      heads(register_module("heads", nn::ModuleDict())),
      members_(members),
      config_(std::move(config)) {
  if (members < 1) {
    throw Error("BatchEnsembleNet: needs at least one member, got " + std::to_string(members));
  }
  check_config(config_, "BatchEnsembleNet");
  int64_t width = config_.inputs;
  for (int64_t next : config_.hidden) {
    trunk.push_back(BatchEnsembleLinear(members, width, next, true, random_sign_init));
    append_activation(trunk, config_.activation);
    if (config_.dropout > 0.f) trunk.push_back(nn::Dropout(config_.dropout));
    width = next;
  }
  for (const Task& task : config_.tasks) {
    heads.insert(task.name,
                 BatchEnsembleLinear(members, width, task.output_size(), true, random_sign_init));
  }
}

std::vector<Tensor> BatchEnsembleNet::forward(const Tensor& x) {
  // The layers work member-minor ([B, K, ...]); only a per-member input and the heads'
  // outputs, the narrowest tensors of the model, are reordered (as in BatchedMLP).
  std::vector<Tensor> outputs =
      trunk_then_heads(trunk, heads, x.dim() == 3 ? permute(x, {1, 0, 2}) : x);
  for (Tensor& output : outputs) output = permute(output, {1, 0, 2});  // [K, B, out]
  return outputs;
}

std::string BatchEnsembleNet::extra_repr() const { return "members=" + std::to_string(members_); }

}  // namespace ember::models
