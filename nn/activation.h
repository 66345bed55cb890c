#pragma once
// Activation layers: stateless, elementwise, with PyTorch's constructor arguments and reprs.
// Each forwards to the op of the same name in core/ops.h (or composes it from ops there).

#include <string>

#include <ember/nn/module.h>

namespace ember::nn {

/// max(x, 0)
class ReLU : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
};

/// x where x > 0, negative_slope · x elsewhere. `inplace` is accepted for PyTorch
/// compatibility and shown in the repr, but ember never modifies the input: the result is
/// always a new tensor with the same values.
class LeakyReLU : public Layer {
 public:
  explicit LeakyReLU(float negative_slope = 0.01f, bool inplace = false);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  float negative_slope_;
  bool inplace_;
};

/// 1 / (1 + e^-x)
class Sigmoid : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
};

/// tanh(x)
class Tanh : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
};

/// x · Φ(x) with Φ the standard normal CDF (approximate = "none"), or its tanh approximation
/// (approximate = "tanh"). Throws Error for any other `approximate`.
class GELU : public Layer {
 public:
  explicit GELU(const std::string& approximate = "none");
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  bool tanh_approximation_;
};

/// log(1 + e^(βx)) / β, and x itself where βx > threshold (for numerical stability).
class Softplus : public Layer {
 public:
  explicit Softplus(float beta = 1.f, float threshold = 20.f);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  float beta_, threshold_;
};

}  // namespace ember::nn
