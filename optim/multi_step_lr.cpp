#include <ember/optim/multi_step_lr.h>

#include <cmath>

namespace ember::optim {

MultiStepLR::MultiStepLR(Optimizer& optimizer, const std::vector<int64_t>& milestones, double gamma)
    : LRScheduler("MultiStepLR", optimizer), gamma_(gamma) {
  for (int64_t milestone : milestones) ++milestone_counts_[milestone];
  start();
}

std::vector<double> MultiStepLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  const auto found = milestone_counts_.find(last_epoch_);
  if (found == milestone_counts_.end()) return lrs;
  for (double& lr : lrs) lr = lr * std::pow(gamma_, found->second);
  return lrs;
}

}  // namespace ember::optim
