#include <ember/core/ops.h>
#include <ember/nn/activation.h>

namespace ember::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

}  // namespace ember::nn
