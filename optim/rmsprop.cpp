#include <ember/optim/rmsprop.h>

#include <cmath>

namespace ember::optim {

void RMSpropOptions::validate() const {
  detail::check_option(lr >= 0, kOptimizer, "learning rate", lr, "must be >= 0");
  detail::check_option(eps >= 0, kOptimizer, "epsilon", eps, "must be >= 0");
  detail::check_option(momentum >= 0, kOptimizer, "momentum", momentum, "must be >= 0");
  detail::check_option(weight_decay >= 0, kOptimizer, "weight_decay", weight_decay, "must be >= 0");
  detail::check_option(alpha >= 0, kOptimizer, "alpha", alpha, "must be >= 0");
}

namespace {
// PyTorch's _single_tensor_rmsprop for one parameter, in one pass, options rounded to float
// where PyTorch's kernels round them.
void rmsprop_update(const RMSpropOptions& o, Tensor& param, const Tensor& grad, ParamState& state) {
  const float lr = static_cast<float>(o.lr);
  const float alpha = static_cast<float>(o.alpha);
  const float one_minus_alpha = static_cast<float>(1 - o.alpha);
  const float eps = static_cast<float>(o.eps);
  const float weight_decay = static_cast<float>(o.weight_decay);
  const float momentum = static_cast<float>(o.momentum);
  float* square_avg = state.buffer("square_avg", param).data();
  float* grad_avg = o.centered ? state.buffer("grad_avg", param).data() : nullptr;
  float* buf = o.momentum > 0 ? state.buffer("momentum_buffer", param).data() : nullptr;
  const float* dp = grad.data();
  // Each element is read, then overwritten: one pass, and the version moves once.
  float* p = param.mutable_data();
  for (int64_t i = 0, n = param.numel(); i < n; ++i) {
    float g = o.maximize ? -dp[i] : dp[i];
    if (o.weight_decay != 0) g = g + weight_decay * p[i];
    square_avg[i] = square_avg[i] * alpha + one_minus_alpha * g * g;
    float variance = square_avg[i];
    if (grad_avg) {
      grad_avg[i] = grad_avg[i] * alpha + one_minus_alpha * g;
      variance = square_avg[i] + -1.f * grad_avg[i] * grad_avg[i];
    }
    const float avg = std::sqrt(variance) + eps;
    if (buf) {
      buf[i] = buf[i] * momentum + g / avg;
      p[i] = p[i] + -lr * buf[i];
    } else {
      p[i] = p[i] + -lr * g / avg;
    }
  }
}
}  // namespace

void RMSprop::step() { update_each_param<rmsprop_update>(); }

}  // namespace ember::optim
