#include <ember/optim/adam.h>

#include <ember/kernels/cpu/parallel.h>

#include <algorithm>
#include <cmath>

namespace ember::optim {

template <bool decoupled>
void AdamVariantOptions<decoupled>::validate() const {
  detail::check_option(lr >= 0, kOptimizer, "learning rate", lr, "must be >= 0");
  detail::check_option(eps >= 0, kOptimizer, "epsilon", eps, "must be >= 0");
  detail::check_option(betas[0] >= 0 && betas[0] < 1, kOptimizer, "beta parameter at index 0",
                       betas[0], "must be in [0, 1)");
  detail::check_option(betas[1] >= 0 && betas[1] < 1, kOptimizer, "beta parameter at index 1",
                       betas[1], "must be in [0, 1)");
  detail::check_option(weight_decay >= 0, kOptimizer, "weight_decay", weight_decay, "must be >= 0");
}

namespace {
// One Adam (or AdamW) update of one parameter: PyTorch's _single_tensor_adam /
// _single_tensor_adamw in one pass. Like PyTorch, the bias corrections and the step size are
// computed in double (Python floats), then rounded to float where they meet the float32
// tensors; the element math keeps PyTorch's order of operations.
template <class Options>
void adam_update(const Options& o, Tensor& param, const Tensor& grad, ParamState& state) {
  const double bias_correction1 = 1 - std::pow(o.betas[0], static_cast<double>(state.step));
  const double bias_correction2 = 1 - std::pow(o.betas[1], static_cast<double>(state.step));
  const float step_size = static_cast<float>(o.lr / bias_correction1);
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float beta1 = static_cast<float>(o.betas[0]), beta2 = static_cast<float>(o.betas[1]);
  const float one_minus_beta1 = static_cast<float>(1 - o.betas[0]);
  const float one_minus_beta2 = static_cast<float>(1 - o.betas[1]);
  const float eps = static_cast<float>(o.eps);
  const float weight_decay = static_cast<float>(o.weight_decay);
  const float shrink = static_cast<float>(1 - o.lr * o.weight_decay);  // AdamW's decay

  float* m = state.buffer("exp_avg", param).data();
  float* v = state.buffer("exp_avg_sq", param).data();
  const float* dp = grad.data();
  // Each element is read, then overwritten: one pass, and the version moves once.
  float* p = param.mutable_data();
  const int64_t n = param.numel();
  // Flags as locals, so the loops below vectorise (see sgd_update).
  const bool maximize = o.maximize, decay = o.weight_decay != 0;
  // Element i's update; `second_moment(i)` is the v the step divides by (amsgrad: its max).
  auto update = [&](int64_t i, auto second_moment) {
    float g = maximize ? -dp[i] : dp[i];
    float value = p[i];
    if constexpr (Options::kDecoupledWeightDecay) {
      value = value * shrink;
    } else if (decay) {
      g = g + weight_decay * value;
    }
    m[i] = m[i] * beta1 + one_minus_beta1 * g;
    v[i] = v[i] * beta2 + one_minus_beta2 * g * g;
    const float denom = std::sqrt(second_moment(i)) / bias_correction2_sqrt + eps;
    p[i] = value + -step_size * m[i] / denom;
  };
  // Split across threads when large (parallel_for); each element's update is its own.
  if (o.amsgrad) {
    float* v_max = state.buffer("max_exp_avg_sq", param).data();
    kernels::cpu::parallel_for(n, kernels::cpu::kParallelGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        update(i, [&](int64_t j) { return v_max[j] = std::max(v_max[j], v[j]); });
    });
  } else {
    kernels::cpu::parallel_for(n, kernels::cpu::kParallelGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) update(i, [&](int64_t j) { return v[j]; });
    });
  }
}
}  // namespace

template <bool decoupled>
void AdamVariant<decoupled>::step() {
  this->template update_each_param<adam_update<Options>>();
}

template struct AdamVariantOptions<false>;
template struct AdamVariantOptions<true>;
template class AdamVariant<false>;
template class AdamVariant<true>;

}  // namespace ember::optim
