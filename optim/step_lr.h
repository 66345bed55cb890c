#pragma once
// StepLR: PyTorch 1.13's torch.optim.lr_scheduler.StepLR (see scheduler.h).

#include <cstdint>

#include <ember/optim/scheduler.h>

namespace ember::optim {

/// lr·gamma every `step_size` epochs.
class StepLR final : public LRScheduler {
 public:
  /// Throws Error unless step_size > 0.
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;

 private:
  int64_t step_size_;
  double gamma_;
};

}  // namespace ember::optim
