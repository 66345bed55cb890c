#include <ember/optim/adagrad.h>

#include <cmath>

namespace ember::optim {

void AdagradOptions::validate() const {
  detail::check_option(lr >= 0, kOptimizer, "learning rate", lr, "must be >= 0");
  detail::check_option(lr_decay >= 0, kOptimizer, "lr_decay", lr_decay, "must be >= 0");
  detail::check_option(weight_decay >= 0, kOptimizer, "weight_decay", weight_decay, "must be >= 0");
  detail::check_option(initial_accumulator_value >= 0, kOptimizer, "initial_accumulator_value",
                       initial_accumulator_value, "must be >= 0");
  detail::check_option(eps >= 0, kOptimizer, "epsilon", eps, "must be >= 0");
}

namespace {
// PyTorch's _single_tensor_adagrad for one parameter, in one pass. PyTorch fills "sum" when
// the optimizer is built; here it is filled at the parameter's first update, with the same
// value.
void adagrad_update(const AdagradOptions& o, Tensor& param, const Tensor& grad, ParamState& state) {
  const float weight_decay = static_cast<float>(o.weight_decay);
  const float eps = static_cast<float>(o.eps);
  // Flags as locals, so the loop below vectorises (see sgd_update).
  const bool maximize = o.maximize, decay = o.weight_decay != 0;
  // The decayed lr is computed in double (a Python float in PyTorch), then rounded.
  const double decayed_lr = o.lr / (1 + static_cast<double>(state.step - 1) * o.lr_decay);
  const float clr = static_cast<float>(decayed_lr);
  float* sum = state.buffer("sum", param, static_cast<float>(o.initial_accumulator_value)).data();
  const float* dp = grad.data();
  // Each element is read, then overwritten: one pass, and the version moves once.
  float* p = param.mutable_data();
  for (int64_t i = 0, n = param.numel(); i < n; ++i) {
    float g = maximize ? -dp[i] : dp[i];
    if (decay) g = g + weight_decay * p[i];
    sum[i] = sum[i] + g * g;
    const float denom = std::sqrt(sum[i]) + eps;
    p[i] = p[i] + -clr * g / denom;
  }
}
}  // namespace

void Adagrad::step() { update_each_param<adagrad_update>(); }

}  // namespace ember::optim
