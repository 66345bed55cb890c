#include <ember/core/autograd.h>
#include <ember/error.h>
#include <ember/optim/clip_grad.h>
#include <ember/optim/optimizer.h>

#include <algorithm>
#include <cmath>

namespace ember::optim {

namespace {
std::vector<Tensor> defined_grads(const std::vector<Tensor>& params, const char* op) {
  std::vector<Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].defined()) {
      throw Error(std::string(op) + ": parameter " + std::to_string(i) + " is undefined");
    }
    const Tensor grad = params[i].grad();
    if (grad.defined()) grads.push_back(grad);
  }
  return grads;
}
}  // namespace

// PyTorch takes the norm of each gradient, then the norm of those norms: the same number as
// the norm of everything at once, which is what is summed here (in double, then rounded to
// float like PyTorch's float32 result).
float clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                      bool error_if_nonfinite) {
  const bool infinity_norm = norm_type == std::numeric_limits<double>::infinity();
  if (!infinity_norm && !(norm_type > 0 && std::isfinite(norm_type))) {
    throw Error("clip_grad_norm_: norm_type must be positive or infinity, got " +
                detail::format_number(norm_type));
  }
  const std::vector<Tensor> grads = defined_grads(params, "clip_grad_norm_");
  if (grads.empty()) return 0.f;

  double accumulated = 0;  // the largest |g| for the infinity norm, else the sum of |g|^p
  for (const Tensor& grad : grads) {
    const float* g = grad.data();
    for (int64_t i = 0, n = grad.numel(); i < n; ++i) {
      const double magnitude = std::abs(static_cast<double>(g[i]));
      if (infinity_norm) {
        accumulated = std::isnan(magnitude) ? magnitude : std::max(accumulated, magnitude);
      } else if (norm_type == 2) {
        accumulated += magnitude * magnitude;
      } else if (norm_type == 1) {
        accumulated += magnitude;
      } else {
        accumulated += std::pow(magnitude, norm_type);
      }
    }
  }
  const float total_norm =
      static_cast<float>(infinity_norm ? accumulated
                                       : (norm_type == 2 ? std::sqrt(accumulated)
                                                         : std::pow(accumulated, 1 / norm_type)));
  if (error_if_nonfinite && !std::isfinite(total_norm)) {
    throw Error("clip_grad_norm_: the total norm of order " + detail::format_number(norm_type) +
                " of the gradients is " + detail::format_number(total_norm) +
                ", so it cannot be clipped; pass error_if_nonfinite = false to scale the "
                "gradients by it anyway");
  }
  // In float32 like PyTorch's tensors, where `max_norm / tensor` is reciprocal(tensor) *
  // max_norm: coefficient = max_norm / (total + 1e-6), at most 1.
  const float coefficient =
      std::min(1.f / (total_norm + 1e-6f) * static_cast<float>(max_norm), 1.f);
  NoGradGuard no_grad;  // gradients built with create_graph require grad themselves
  for (Tensor grad : grads) grad.mul_(coefficient);
  return total_norm;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  if (!(clip_value >= 0)) {
    throw Error("clip_grad_value_: clip_value must be >= 0, got " +
                detail::format_number(clip_value));
  }
  const float limit = static_cast<float>(clip_value);
  NoGradGuard no_grad;
  for (Tensor grad : defined_grads(params, "clip_grad_value_")) {
    float* g = grad.mutable_data();
    // NaN passes through, as in PyTorch's clamp.
    for (int64_t i = 0, n = grad.numel(); i < n; ++i)
      g[i] = g[i] < -limit ? -limit : g[i] > limit ? limit : g[i];
  }
}

}  // namespace ember::optim
