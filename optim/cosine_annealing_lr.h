#pragma once
// CosineAnnealingLR: PyTorch 1.13's torch.optim.lr_scheduler.CosineAnnealingLR (see
// scheduler.h; the variant with restarts is in cosine_annealing_warm_restarts.h).

#include <cstdint>

#include <ember/optim/scheduler.h>

namespace ember::optim {

/// Cosine annealing from the base lr to eta_min over T_max epochs, then back up over the
/// next T_max, and so on (SGDR without restarts). Uses PyTorch's recursive form, which
/// follows eta_min + (base - eta_min)·(1 + cos(π·t/T_max))/2 up to rounding.
class CosineAnnealingLR final : public LRScheduler {
 public:
  /// Throws Error unless T_max > 0.
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0);

 protected:
  std::vector<double> get_lr() override;

 private:
  int64_t T_max_;
  double eta_min_;
};

}  // namespace ember::optim
