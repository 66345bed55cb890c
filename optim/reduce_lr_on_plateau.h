#pragma once
// ReduceLROnPlateau: PyTorch 1.13's torch.optim.lr_scheduler.ReduceLROnPlateau (see
// scheduler.h). Unlike the others, it is stepped with a metric, not once per epoch.

#include <cstdint>

#include <ember/optim/scheduler.h>

namespace ember::optim {

enum class PlateauMode { Min, Max };
enum class ThresholdMode { Rel, Abs };

struct ReduceLROnPlateauOptions {
  /// Min: the metric should fall (a loss); Max: it should rise (an accuracy).
  PlateauMode mode = PlateauMode::Min;
  /// new lr = lr · factor.
  double factor = 0.1;
  /// Epochs without improvement tolerated before the lr is reduced.
  int64_t patience = 10;
  /// An improvement must beat the best by this much: relatively (best·(1 ∓ threshold)) or
  /// absolutely (best ∓ threshold).
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::Rel;
  /// Epochs to wait after a reduction before counting bad epochs again.
  int64_t cooldown = 0;
  /// Lower bound on each group's lr.
  PerGroup min_lr = 0.0;
  /// Reductions smaller than this are skipped.
  double eps = 1e-8;
};

/// Reduces the lr by `factor` when a metric has stopped improving for `patience` epochs.
class ReduceLROnPlateau final : public Scheduler {
 public:
  /// Throws Error unless 0 <= factor < 1, patience >= 0 and cooldown >= 0, or when min_lr
  /// lists a number of values other than the number of groups.
  ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options = {});
  /// Records this epoch's metric and reduces the lrs if it is time to.
  void step(double metric);

  int64_t last_epoch() const { return last_epoch_; }
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  bool in_cooldown() const { return cooldown_counter_ > 0; }

 protected:
  void save_values(std::map<std::string, double>& values) const override;
  void load_values(const std::map<std::string, double>& values) override;

 private:
  bool is_better(double metric, double best) const;

  ReduceLROnPlateauOptions options_;
  std::vector<double> min_lrs_;
  int64_t last_epoch_ = 0;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
};

}  // namespace ember::optim
