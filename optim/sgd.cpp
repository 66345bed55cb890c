#include <ember/optim/sgd.h>

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
// PyTorch's _single_tensor_sgd for one parameter, in one pass. Python floats meet float32
// tensors there, so each option is rounded to float once, as PyTorch's kernels do.
void sgd_update(const SGDOptions& o, Tensor& param, const Tensor& grad, ParamState& state) {
  const float lr = static_cast<float>(o.lr);
  const float momentum = static_cast<float>(o.momentum);
  const float weight_decay = static_cast<float>(o.weight_decay);
  const float undamped = static_cast<float>(1 - o.dampening);
  // Flags as locals, captured by value: the compiler can then hoist the branches out of the
  // loop (it could not through `o`, which a float store might alias) and vectorise it.
  const bool maximize = o.maximize, nesterov = o.nesterov, decay = o.weight_decay != 0;
  const bool use_momentum = o.momentum != 0;
  const float* dp = grad.data();
  // Each element is read, then overwritten: one pass, and the version moves once.
  float* p = param.mutable_data();
  const int64_t n = param.numel();
  // The gradient with weight decay folded in, negated when maximising.
  auto direction = [=](int64_t i) {
    const float d = maximize ? -dp[i] : dp[i];
    return decay ? d + weight_decay * p[i] : d;
  };
  if (!use_momentum) {
    kernels::cpu::parallel_for(n, 1, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) p[i] = p[i] + -lr * direction(i);
    });
    return;
  }
  // (A separate loop, not `if (buf)` inside one: vectorised, that test became a masked
  // load through a null pointer, which cost ~350 ns per call on this AMD EPYC.)
  const bool first_momentum_step = !state.has("momentum_buffer");
  float* buf = state.buffer("momentum_buffer", param).data();
  kernels::cpu::parallel_for(n, 1, [=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float d = direction(i);
      buf[i] = first_momentum_step ? d : buf[i] * momentum + undamped * d;
      p[i] = p[i] + -lr * (nesterov ? d + momentum * buf[i] : buf[i]);
    }
  });
}
}  // namespace

void SGD::step() { update_each_param<sgd_update>(); }

}  // namespace ember::optim
