#pragma once
// BatchedLinear: K independent Linear layers, one per ensemble member, stored stacked so that
// all K run as one op (batched_linear in core/ops.h).

#include <ember/nn/module.h>

namespace ember::nn {

/// weight [K, out, in] and bias [K, out]; member k's slice is initialised like a PyTorch
/// nn.Linear, U(-1/√in, 1/√in). x [B, K, in] (member k reads x[:, k]) or [B, in] (every
/// member reads it) -> y [B, K, out]. Throws Error for a size < 1, or (in forward) another
/// shape.
class BatchedLinear : public Layer {
 public:
  BatchedLinear(int64_t members, int64_t in_features, int64_t out_features, bool bias = true);

  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Tensor weight;
  Tensor bias;  // undefined when built without bias

 private:
  int64_t members_, in_features_, out_features_;
};

}  // namespace ember::nn
