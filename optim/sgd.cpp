#include <ember/optim/sgd.h>

#include <ember/kernels/cpu/cpu_level.h>
#include <ember/kernels/cpu/parallel.h>

#include <cmath>

namespace ember::optim {

void SGDOptions::validate() const {
  if (std::isnan(lr)) throw Error("SGD: lr is required (SGD has no default learning rate)");
  detail::check_option(lr >= 0, kOptimizer, "learning rate", lr, "must be >= 0");
  detail::check_option(momentum >= 0, kOptimizer, "momentum", momentum, "must be >= 0");
  detail::check_option(weight_decay >= 0, kOptimizer, "weight_decay", weight_decay, "must be >= 0");
  if (nesterov && (momentum <= 0 || dampening != 0)) {
    throw Error("SGD: Nesterov momentum requires a momentum and zero dampening (momentum " +
                detail::format_number(momentum) + ", dampening " +
                detail::format_number(dampening) + ")");
  }
}

namespace {
// The options of one SGD update, rounded to float once, as PyTorch's kernels do where Python
// floats meet float32 tensors.
struct SgdScalars {
  float lr, momentum, weight_decay, undamped;
  bool maximize, nesterov, decay, first_momentum_step;
};

// The gradient with weight decay folded in, negated when maximising.
inline float direction(const SgdScalars& s, const float* p, const float* dp, int64_t i) {
  const float d = s.maximize ? -dp[i] : dp[i];
  return s.decay ? d + s.weight_decay * p[i] : d;
}

// Elements [begin, end) of one update without momentum, and with it. Each runs at the CPU's
// level, with the scalars as its own locals (run_at_cpu_level), so the compiler hoists the
// flags' branches out of the loop and vectorises it. They are separate loops, not `if (buf)`
// inside one: vectorised, that test became a masked load through a null pointer, which cost
// ~350 ns per call on an AMD EPYC.
void sgd_elements(SgdScalars s, float* p, const float* dp, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) p[i] = p[i] + -s.lr * direction(s, p, dp, i);
}
void sgd_momentum_elements(SgdScalars s, float* p, float* buf, const float* dp, int64_t begin,
                           int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    const float d = direction(s, p, dp, i);
    buf[i] = s.first_momentum_step ? d : buf[i] * s.momentum + s.undamped * d;
    p[i] = p[i] + -s.lr * (s.nesterov ? d + s.momentum * buf[i] : buf[i]);
  }
}

// PyTorch's _single_tensor_sgd for one parameter, in one pass.
void sgd_update(const SGDOptions& o, Tensor& param, const Tensor& grad, ParamState& state) {
  SgdScalars s{.lr = static_cast<float>(o.lr),
               .momentum = static_cast<float>(o.momentum),
               .weight_decay = static_cast<float>(o.weight_decay),
               .undamped = static_cast<float>(1 - o.dampening),
               .maximize = o.maximize,
               .nesterov = o.nesterov,
               .decay = o.weight_decay != 0,
               .first_momentum_step = false};
  const float* dp = grad.data();
  // Each element is read, then overwritten: one pass, and the version moves once.
  float* p = param.mutable_data();
  const int64_t n = param.numel();
  if (o.momentum == 0) {
    kernels::cpu::parallel_for(n, 1, [=](int64_t begin, int64_t end) {
      kernels::cpu::run_at_cpu_level([](auto... args) { sgd_elements(args...); }, s, p, dp, begin,
                                     end);
    });
    return;
  }
  s.first_momentum_step = !state.has("momentum_buffer");
  float* buf = state.buffer("momentum_buffer", param).data();
  kernels::cpu::parallel_for(n, 1, [=](int64_t begin, int64_t end) {
    kernels::cpu::run_at_cpu_level([](auto... args) { sgd_momentum_elements(args...); }, s, p, buf,
                                   dp, begin, end);
  });
}
}  // namespace

void SGD::step() { update_each_param<sgd_update>(); }

}  // namespace ember::optim
