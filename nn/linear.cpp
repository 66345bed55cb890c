#include <ember/core/ops.h>
#include <ember/core/random.h>
#include <ember/error.h>
#include <ember/nn/linear.h>

#include <cmath>

namespace ember::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : in_features_(in_features), out_features_(out_features) {
  if (in_features <= 0 || out_features <= 0) {
    throw Error("Linear: in_features and out_features must be positive, got " +
                std::to_string(in_features) + " and " + std::to_string(out_features));
  }
  // PyTorch's reset_parameters: kaiming_uniform_(a=√5) on the weight works out to
  // U(-1/√in, 1/√in), and the bias uses the same bound.
  const float bound = 1.f / std::sqrt(static_cast<float>(in_features));
  weight = register_parameter("weight", uniform({out_features, in_features}, -bound, bound));
  if (bias) this->bias = register_parameter("bias", uniform({out_features}, -bound, bound));
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features_) +
         ", out_features=" + std::to_string(out_features_) +
         ", bias=" + (bias.defined() ? "True" : "False");
}

}  // namespace ember::nn
