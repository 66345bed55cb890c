#include <ember/optim/cosine_annealing_lr.h>

#include <cmath>
#include <numbers>

namespace ember::optim {

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler("CosineAnnealingLR", optimizer), T_max_(T_max), eta_min_(eta_min) {
  if (T_max <= 0)
    throw Error("CosineAnnealingLR: T_max must be positive, got " + std::to_string(T_max));
  start();
}

// The recursive form: each lr is the previous one scaled by the ratio of consecutive points
// of the cosine curve, except just after a minimum (every 2·T_max epochs), where the ratio
// would divide by zero and PyTorch adds the rise of the first step instead.
std::vector<double> CosineAnnealingLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0) return lrs;
  const double pi = std::numbers::pi;
  const double T_max = static_cast<double>(T_max_);
  const double epoch = static_cast<double>(last_epoch_);
  for (size_t g = 0; g < lrs.size(); ++g) {
    if ((last_epoch_ - 1 - T_max_) % (2 * T_max_) == 0) {
      lrs[g] = lrs[g] + (base_lrs_[g] - eta_min_) * (1 - std::cos(pi / T_max)) / 2;
    } else {
      lrs[g] = (1 + std::cos(pi * epoch / T_max)) / (1 + std::cos(pi * (epoch - 1) / T_max)) *
                   (lrs[g] - eta_min_) +
               eta_min_;
    }
  }
  return lrs;
}

}  // namespace ember::optim
