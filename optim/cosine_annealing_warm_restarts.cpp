#include <ember/optim/cosine_annealing_warm_restarts.h>

#include <cmath>
#include <numbers>

namespace ember::optim {

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& optimizer, int64_t T_0,
                                                         int64_t T_mult, double eta_min)
    : LRScheduler("CosineAnnealingWarmRestarts", optimizer),
      T_0_(T_0),
      T_mult_(T_mult),
      eta_min_(eta_min),
      T_i_(T_0) {
  if (T_0 <= 0) {
    throw Error("CosineAnnealingWarmRestarts: expected a positive T_0, got " + std::to_string(T_0));
  }
  if (T_mult < 1) {
    throw Error("CosineAnnealingWarmRestarts: expected T_mult >= 1, got " + std::to_string(T_mult));
  }
  start();
}

// T_cur counts epochs since the last restart; when it reaches the period T_i, the schedule
// restarts and the next period is T_mult times longer.
void CosineAnnealingWarmRestarts::step() {
  if (last_epoch_ < 0) {
    T_i_ = T_0_;
    T_cur_ = 0;
  } else {
    T_cur_ = T_cur_ + 1;
    if (T_cur_ >= T_i_) {
      T_cur_ = T_cur_ - T_i_;
      T_i_ = T_i_ * T_mult_;
    }
  }
  ++last_epoch_;
  apply(get_lr());
}

std::vector<double> CosineAnnealingWarmRestarts::get_lr() {
  std::vector<double> lrs;
  const double pi = std::numbers::pi;
  for (double base_lr : base_lrs_) {
    lrs.push_back(eta_min_ +
                  (base_lr - eta_min_) *
                      (1 + std::cos(pi * static_cast<double>(T_cur_) / static_cast<double>(T_i_))) /
                      2);
  }
  return lrs;
}

void CosineAnnealingWarmRestarts::save_values(std::map<std::string, double>& values) const {
  LRScheduler::save_values(values);
  values["T_cur"] = static_cast<double>(T_cur_);
  values["T_i"] = static_cast<double>(T_i_);
}

void CosineAnnealingWarmRestarts::load_values(const std::map<std::string, double>& values) {
  LRScheduler::load_values(values);
  T_cur_ = read_int(values, "T_cur");
  T_i_ = read_int(values, "T_i");
}

}  // namespace ember::optim
