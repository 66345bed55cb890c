#pragma once
// CosineAnnealingWarmRestarts: PyTorch 1.13's
// torch.optim.lr_scheduler.CosineAnnealingWarmRestarts (see scheduler.h).

#include <cstdint>

#include <ember/optim/scheduler.h>

namespace ember::optim {

/// SGDR (Loshchilov & Hutter 2017): cosine annealing from the base lr to eta_min over T_i
/// epochs, then a restart, with T_i = T_0, T_0·T_mult, T_0·T_mult², ...
class CosineAnnealingWarmRestarts final : public LRScheduler {
 public:
  /// Throws Error unless T_0 > 0 and T_mult >= 1.
  CosineAnnealingWarmRestarts(Optimizer& optimizer, int64_t T_0, int64_t T_mult = 1,
                              double eta_min = 0);
  void step() override;

 protected:
  std::vector<double> get_lr() override;
  void save_values(std::map<std::string, double>& values) const override;
  void load_values(const std::map<std::string, double>& values) override;

 private:
  int64_t T_0_, T_mult_;
  double eta_min_;
  int64_t T_i_, T_cur_ = -1;
};

}  // namespace ember::optim
