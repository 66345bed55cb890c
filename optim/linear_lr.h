#pragma once
// LinearLR: PyTorch 1.13's torch.optim.lr_scheduler.LinearLR (see scheduler.h).

#include <cstdint>

#include <ember/optim/scheduler.h>

namespace ember::optim {

/// Linear warm-up: the factor on the base lr goes from start_factor to end_factor over
/// total_iters epochs, then stays.
class LinearLR final : public LRScheduler {
 public:
  /// Throws Error unless 0 < start_factor <= 1, 0 <= end_factor <= 1 and total_iters >= 0.
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0,
           int64_t total_iters = 5);

 protected:
  std::vector<double> get_lr() override;

 private:
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

}  // namespace ember::optim
