#include <ember/optim/adam.h>

#include <ember/kernels/cpu/cpu_level.h>
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
// The per-step numbers of one Adam update, as float32.
struct AdamScalars {
  float step_size, bias_correction2_sqrt, beta1, beta2, one_minus_beta1, one_minus_beta2, eps,
      weight_decay, shrink;
  bool maximize, decay;
};

// Elements [begin, end) of one update, run at the CPU's level. Everything arrives by value
// (run_at_cpu_level), so the loop keeps it in registers and vectorises: read through a
// lambda's captures, or inlined into parallel_for's caller, the scalars were reloaded after
// every store (a float store might change them) and the loop ran scalar, 4x slower.
// v_max: amsgrad's running maximum of v, which the step then divides by (kAmsgrad only: a
// null test inside the loop could become a masked load through the null pointer, see sgd.cpp).
template <bool kDecoupledWeightDecay, bool kAmsgrad>
void adam_elements(AdamScalars s, float* p, float* m, float* v, float* v_max, const float* dp,
                   int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    float g = s.maximize ? -dp[i] : dp[i];
    float value = p[i];
    if constexpr (kDecoupledWeightDecay) {
      value = value * s.shrink;
    } else if (s.decay) {
      g = g + s.weight_decay * value;
    }
    m[i] = m[i] * s.beta1 + s.one_minus_beta1 * g;
    v[i] = v[i] * s.beta2 + s.one_minus_beta2 * g * g;
    float second_moment = v[i];
    if constexpr (kAmsgrad) second_moment = v_max[i] = std::max(v_max[i], v[i]);
    const float denom = std::sqrt(second_moment) / s.bias_correction2_sqrt + s.eps;
    p[i] = value + -s.step_size * m[i] / denom;
  }
}

// One Adam (or AdamW) update of one parameter: PyTorch's _single_tensor_adam /
// _single_tensor_adamw in one pass. Like PyTorch, the bias corrections and the step size are
// computed in double (Python floats), then rounded to float where they meet the float32
// tensors; the element math keeps PyTorch's order of operations.
template <class Options>
void adam_update(const Options& o, Tensor& param, const Tensor& grad, ParamState& state) {
  const double bias_correction1 = 1 - std::pow(o.betas[0], static_cast<double>(state.step));
  const double bias_correction2 = 1 - std::pow(o.betas[1], static_cast<double>(state.step));
  const AdamScalars s{.step_size = static_cast<float>(o.lr / bias_correction1),
                      .bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2)),
                      .beta1 = static_cast<float>(o.betas[0]),
                      .beta2 = static_cast<float>(o.betas[1]),
                      .one_minus_beta1 = static_cast<float>(1 - o.betas[0]),
                      .one_minus_beta2 = static_cast<float>(1 - o.betas[1]),
                      .eps = static_cast<float>(o.eps),
                      .weight_decay = static_cast<float>(o.weight_decay),
                      .shrink = static_cast<float>(1 - o.lr * o.weight_decay),  // AdamW's decay
                      .maximize = o.maximize,
                      .decay = o.weight_decay != 0};
  float* m = state.buffer("exp_avg", param).data();
  float* v = state.buffer("exp_avg_sq", param).data();
  float* v_max = o.amsgrad ? state.buffer("max_exp_avg_sq", param).data() : nullptr;
  const float* dp = grad.data();
  // Each element is read, then overwritten: one pass, and the version moves once.
  float* p = param.mutable_data();
  // Split across threads when large (parallel_for); each element's update is its own.
  const int64_t n = param.numel();
  if (o.amsgrad) {
    kernels::cpu::parallel_for(n, 1, [=](int64_t begin, int64_t end) {
      kernels::cpu::run_at_cpu_level(
          [](auto... args) { adam_elements<Options::kDecoupledWeightDecay, true>(args...); }, s, p,
          m, v, v_max, dp, begin, end);
    });
  } else {
    kernels::cpu::parallel_for(n, 1, [=](int64_t begin, int64_t end) {
      kernels::cpu::run_at_cpu_level(
          [](auto... args) { adam_elements<Options::kDecoupledWeightDecay, false>(args...); }, s, p,
          m, v, static_cast<float*>(nullptr), dp, begin, end);
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
