#pragma once
// ExponentialLR: PyTorch 1.13's torch.optim.lr_scheduler.ExponentialLR (see scheduler.h).

#include <cstdint>

#include <ember/optim/scheduler.h>

namespace ember::optim {

/// lr·gamma every epoch.
class ExponentialLR final : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  std::vector<double> get_lr() override;

 private:
  double gamma_;
};

}  // namespace ember::optim
