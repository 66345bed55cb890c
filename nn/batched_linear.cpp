#include <ember/core/ops.h>
#include <ember/core/random.h>
#include <ember/error.h>
#include <ember/nn/batched_linear.h>

#include <cmath>

namespace ember::nn {

BatchedLinear::BatchedLinear(int64_t members, int64_t in_features, int64_t out_features, bool bias)
    : members_(members), in_features_(in_features), out_features_(out_features) {
  if (members <= 0 || in_features <= 0 || out_features <= 0) {
    throw Error("BatchedLinear: members, in_features and out_features must be positive, got " +
                std::to_string(members) + ", " + std::to_string(in_features) + " and " +
                std::to_string(out_features));
  }
  // Every member gets nn::Linear's bound (see nn/linear.cpp); the draws fill member 0 first.
  const float bound = 1.f / std::sqrt(static_cast<float>(in_features));
  weight =
      register_parameter("weight", uniform({members, out_features, in_features}, -bound, bound));
  if (bias)
    this->bias = register_parameter("bias", uniform({members, out_features}, -bound, bound));
}

Tensor BatchedLinear::forward(const Tensor& x) { return batched_linear(x, weight, bias); }

std::string BatchedLinear::extra_repr() const {
  return "members=" + std::to_string(members_) + ", in_features=" + std::to_string(in_features_) +
         ", out_features=" + std::to_string(out_features_) +
         ", bias=" + (bias.defined() ? "True" : "False");
}

}  // namespace ember::nn
