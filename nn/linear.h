#pragma once
// Linear: y = x·Wᵀ + b, PyTorch's nn.Linear.

#include <ember/nn/module.h>

namespace ember::nn {

/// weight [out, in] and bias [out], both initialised U(-1/√in, 1/√in) as in PyTorch.
/// Accepts any leading batch dims: x [..., in] -> y [..., out].
class Linear : public Layer {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);

  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Tensor weight;
  Tensor bias;  // undefined when built without bias

 private:
  int64_t in_features_, out_features_;
};

}  // namespace ember::nn
