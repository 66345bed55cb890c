#pragma once
// Activation layers: stateless wrappers around the ops of the same name.

#include <ember/nn/module.h>

namespace ember::nn {

/// max(x, 0)
class ReLU : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
};

}  // namespace ember::nn
