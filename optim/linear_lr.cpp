#include <ember/optim/linear_lr.h>

namespace ember::optim {

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor,
                   int64_t total_iters)
    : LRScheduler("LinearLR", optimizer),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  // A start factor of 0 would divide by zero at the second step (PyTorch 2 refuses it too).
  if (!(start_factor > 0 && start_factor <= 1)) {
    throw Error("LinearLR: start_factor must be in (0, 1], got " +
                detail::format_number(start_factor));
  }
  if (!(end_factor >= 0 && end_factor <= 1)) {
    throw Error("LinearLR: end_factor must be in [0, 1], got " + detail::format_number(end_factor));
  }
  if (total_iters < 0) {
    throw Error("LinearLR: total_iters must be >= 0, got " + std::to_string(total_iters));
  }
  start();
}

// Chainable: the factor goes from start to end in equal steps, so each step multiplies the
// lr by (previous factor + one step) / previous factor.
std::vector<double> LinearLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr = lr * start_factor_;
    return lrs;
  }
  if (last_epoch_ > total_iters_) return lrs;
  const double change = end_factor_ - start_factor_;
  for (double& lr : lrs) {
    lr = lr * (1. + change / (static_cast<double>(total_iters_) * start_factor_ +
                              static_cast<double>(last_epoch_ - 1) * change));
  }
  return lrs;
}

}  // namespace ember::optim
