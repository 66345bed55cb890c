#include <ember/core/ops.h>
#include <ember/core/random.h>
#include <ember/error.h>
#include <ember/nn/dropout.h>
#include <ember/nn/repr.h>

namespace ember::nn {

Dropout::Dropout(float p, bool inplace) : p_(p), inplace_(inplace) {
  if (!(p >= 0.f && p <= 1.f)) {  // written so that NaN fails too
    throw Error("Dropout: probability has to be between 0 and 1, but got " +
                detail::python_float(p));
  }
}

// y = x · mask, mask = [u >= p] / (1 - p) with u ~ U[0, 1);  d/dx = mask
Tensor Dropout::forward(const Tensor& x) {
  if (!is_training() || p_ == 0.f) return x;
  // Every element dropped: 1/(1 - p) would be infinite and 0 · inf is NaN.
  if (p_ == 1.f) return x * 0.f;
  // P(u >= p) = 1 - p for u uniform in [0, 1). The mask is a constant: the gradient of each
  // kept element is scaled like its value, and dropped elements get none.
  const Tensor mask = (rand(x.shape()) >= p_) * (1.f / (1.f - p_));
  return x * mask;
}

std::string Dropout::extra_repr() const {
  return "p=" + detail::python_float(p_) + ", inplace=" + detail::python_bool(inplace_);
}

}  // namespace ember::nn
