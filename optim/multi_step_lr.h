#pragma once
// MultiStepLR: PyTorch 1.13's torch.optim.lr_scheduler.MultiStepLR (see scheduler.h).

#include <cstdint>
#include <map>

#include <ember/optim/scheduler.h>

namespace ember::optim {

/// lr·gamma at each milestone epoch (a milestone listed twice multiplies by gamma²).
class MultiStepLR final : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, const std::vector<int64_t>& milestones, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;

 private:
  std::map<int64_t, int> milestone_counts_;
  double gamma_;
};

}  // namespace ember::optim
