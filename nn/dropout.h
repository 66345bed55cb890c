#pragma once
// Dropout: randomly zeroes activations while training (Srivastava et al., 2014).

#include <string>

#include <ember/nn/module.h>

namespace ember::nn {

/// Inverted dropout. In training mode each element is zeroed with probability `p` and the
/// survivors are scaled by 1/(1 - p), so the expected output equals the input; in eval mode
/// the layer is the identity. The mask is drawn from the calling thread's generator (seed it with
/// manual_seed). `inplace` is accepted for PyTorch compatibility and shown in the repr, but
/// the input is never modified. Throws Error unless 0 <= p <= 1.
class Dropout : public Layer {
 public:
  explicit Dropout(float p = 0.5f, bool inplace = false);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  float p() const { return p_; }

 private:
  float p_;
  bool inplace_;
};

}  // namespace ember::nn
