#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/nn/activation.h>
#include <ember/nn/repr.h>

#include <cmath>

namespace ember::nn {

using detail::python_float;

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

LeakyReLU::LeakyReLU(float negative_slope, bool inplace)
    : negative_slope_(negative_slope), inplace_(inplace) {}

// d/dx = 1 where x > 0, negative_slope elsewhere (at 0 too, as PyTorch): `where` routes the
// gradient to the branch it picked.
Tensor LeakyReLU::forward(const Tensor& x) { return where(x > 0.f, x, x * negative_slope_); }

std::string LeakyReLU::extra_repr() const {
  // PyTorch mentions inplace only when it is set.
  return "negative_slope=" + python_float(negative_slope_) + (inplace_ ? ", inplace=True" : "");
}

Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }

Tensor Tanh::forward(const Tensor& x) { return tanh(x); }

GELU::GELU(const std::string& approximate) : tanh_approximation_(approximate == "tanh") {
  if (approximate != "none" && approximate != "tanh") {
    throw Error("GELU: approximate must be 'none' or 'tanh', got '" + approximate + "'");
  }
}

Tensor GELU::forward(const Tensor& x) { return gelu(x, tanh_approximation_); }

std::string GELU::extra_repr() const {
  return std::string("approximate=") + (tanh_approximation_ ? "'tanh'" : "'none'");
}

Softplus::Softplus(float beta, float threshold) : beta_(beta), threshold_(threshold) {}

Tensor Softplus::forward(const Tensor& x) { return softplus(x, beta_, threshold_); }

std::string Softplus::extra_repr() const {
  // PyTorch's defaults are the Python ints 1 and 20, printed without ".0"; whole numbers are
  // printed that way here so that Softplus() reads "Softplus(beta=1, threshold=20)".
  auto number = [](float value) {
    if (std::isfinite(value) && value == std::trunc(value) && std::fabs(value) < 1e15f) {
      return std::to_string(static_cast<long long>(value));
    }
    return python_float(value);
  };
  return "beta=" + number(beta_) + ", threshold=" + number(threshold_);
}

}  // namespace ember::nn
