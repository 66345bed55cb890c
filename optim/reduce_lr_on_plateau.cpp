#include <ember/optim/reduce_lr_on_plateau.h>

#include <algorithm>
#include <limits>

namespace ember::optim {

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options)
    : Scheduler("ReduceLROnPlateau", optimizer), options_(options) {
  if (!(options.factor >= 0 && options.factor < 1)) {
    throw Error("ReduceLROnPlateau: factor must be in [0, 1), got " +
                detail::format_number(options.factor));
  }
  if (options.patience < 0) {
    throw Error("ReduceLROnPlateau: patience must be >= 0, got " +
                std::to_string(options.patience));
  }
  if (options.cooldown < 0) {
    throw Error("ReduceLROnPlateau: cooldown must be >= 0, got " +
                std::to_string(options.cooldown));
  }
  min_lrs_ = options.min_lr.per_group(optimizer.num_param_groups(), name(), "min_lr");
  // The worst possible value, so the first metric is always an improvement.
  best_ = options.mode == PlateauMode::Min ? std::numeric_limits<double>::infinity()
                                           : -std::numeric_limits<double>::infinity();
  last_lr_ = current_lrs();
}

bool ReduceLROnPlateau::is_better(double metric, double best) const {
  const double threshold = options_.threshold;
  if (options_.mode == PlateauMode::Min) {
    return options_.threshold_mode == ThresholdMode::Rel ? metric < best * (1. - threshold)
                                                         : metric < best - threshold;
  }
  return options_.threshold_mode == ThresholdMode::Rel ? metric > best * (threshold + 1.)
                                                       : metric > best + threshold;
}

void ReduceLROnPlateau::step(double metric) {
  last_epoch_ = last_epoch_ + 1;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (in_cooldown()) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs during the cooldown do not count
  }
  if (num_bad_epochs_ > options_.patience) {
    for (size_t g = 0; g < optimizer_.num_param_groups(); ++g) {
      const double old_lr = optimizer_.lr(g);
      const double new_lr = std::max(old_lr * options_.factor, min_lrs_[g]);
      if (old_lr - new_lr > options_.eps) optimizer_.set_lr(g, new_lr);
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lr_ = current_lrs();
}

void ReduceLROnPlateau::save_values(std::map<std::string, double>& values) const {
  values["last_epoch"] = static_cast<double>(last_epoch_);
  values["best"] = best_;
  values["num_bad_epochs"] = static_cast<double>(num_bad_epochs_);
  values["cooldown_counter"] = static_cast<double>(cooldown_counter_);
}

void ReduceLROnPlateau::load_values(const std::map<std::string, double>& values) {
  last_epoch_ = read_int(values, "last_epoch");
  best_ = read(values, "best");
  num_bad_epochs_ = read_int(values, "num_bad_epochs");
  cooldown_counter_ = read_int(values, "cooldown_counter");
}

}  // namespace ember::optim
