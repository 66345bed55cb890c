#include <ember/optim/lr_scheduler.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

// Every formula below is PyTorch's, written with the same operations in the same order and
// evaluated in double like Python's floats, so the sequences agree to the last bit or two.

namespace ember::optim {

namespace {
using detail::format_number;

double read(const std::map<std::string, double>& values, const std::string& key) {
  return values.at(key);  // load_state_dict checked the keys first
}

int64_t read_int(const std::map<std::string, double>& values, const std::string& key) {
  return static_cast<int64_t>(read(values, key));
}
}  // namespace

std::vector<double> PerGroup::per_group(size_t num_groups, const std::string& scheduler,
                                        const char* what) const {
  if (values.size() == 1) return std::vector<double>(num_groups, values[0]);
  if (values.size() != num_groups) {
    throw Error(scheduler + ": expected " + std::to_string(num_groups) + " values for " + what +
                " (one per parameter group) or a single one, got " + std::to_string(values.size()));
  }
  return values;
}

// -- Scheduler -------------------------------------------------------------------------------

Scheduler::Scheduler(std::string name, Optimizer& optimizer)
    : optimizer_(optimizer), name_(std::move(name)) {}

std::vector<double> Scheduler::current_lrs() const {
  std::vector<double> lrs;
  for (size_t g = 0; g < optimizer_.num_param_groups(); ++g) lrs.push_back(optimizer_.lr(g));
  return lrs;
}

void Scheduler::set_options(size_t group, const std::map<std::string, double>& values) {
  optimizer_.assign_named_options(group, values, /*validate=*/false);
}

void Scheduler::apply(const std::vector<double>& lrs) {
  for (size_t g = 0; g < lrs.size(); ++g) set_option(g, "lr", lrs[g]);
  last_lr_ = lrs;
}

SchedulerState Scheduler::state_dict() const {
  SchedulerState state{name_, {}};
  for (size_t g = 0; g < last_lr_.size(); ++g) {
    state.values["last_lr." + std::to_string(g)] = last_lr_[g];
  }
  save_values(state.values);
  return state;
}

void Scheduler::load_state_dict(const SchedulerState& state) {
  const std::string where = name_ + ": load_state_dict: ";
  if (state.scheduler != name_) {
    throw Error(where + "the state is from " +
                (state.scheduler.empty() ? "an unnamed scheduler" : state.scheduler) +
                ", not from " + name_);
  }
  // This scheduler's own state names exactly the values it needs.
  const SchedulerState expected = state_dict();
  for (const auto& entry : expected.values) {
    if (!state.values.count(entry.first))
      throw Error(where + "missing value \"" + entry.first + "\"");
  }
  for (const auto& entry : state.values) {
    if (!expected.values.count(entry.first)) {
      throw Error(where + "unknown value \"" + entry.first + "\"");
    }
  }
  for (size_t g = 0; g < last_lr_.size(); ++g) {
    last_lr_[g] = read(state.values, "last_lr." + std::to_string(g));
  }
  load_values(state.values);
}

// -- LRScheduler -----------------------------------------------------------------------------

void LRScheduler::start() {
  for (size_t g = 0; g < optimizer_.num_param_groups(); ++g) {
    if (!optimizer_.initial_lr(g)) optimizer_.set_initial_lr(g, optimizer_.lr(g));
    base_lrs_.push_back(*optimizer_.initial_lr(g));
  }
  step();
}

void LRScheduler::step() {
  ++last_epoch_;
  std::vector<double> lrs;
  try {
    lrs = get_lr();
  } catch (...) {  // OneCycleLR past its end: leave everything as it was
    --last_epoch_;
    throw;
  }
  apply(lrs);
}

void LRScheduler::save_values(std::map<std::string, double>& values) const {
  values["last_epoch"] = static_cast<double>(last_epoch_);
  for (size_t g = 0; g < base_lrs_.size(); ++g) {
    values["base_lr." + std::to_string(g)] = base_lrs_[g];
  }
}

void LRScheduler::load_values(const std::map<std::string, double>& values) {
  last_epoch_ = read_int(values, "last_epoch");
  for (size_t g = 0; g < base_lrs_.size(); ++g) {
    base_lrs_[g] = read(values, "base_lr." + std::to_string(g));
  }
}

// -- StepLR, MultiStepLR, ExponentialLR ------------------------------------------------------

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler("StepLR", optimizer), step_size_(step_size), gamma_(gamma) {
  if (step_size <= 0) {
    throw Error("StepLR: step_size must be positive, got " + std::to_string(step_size));
  }
  start();
}

std::vector<double> StepLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return lrs;
  for (double& lr : lrs) lr = lr * gamma_;
  return lrs;
}

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

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : LRScheduler("ExponentialLR", optimizer), gamma_(gamma) {
  start();
}

std::vector<double> ExponentialLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0) return lrs;
  for (double& lr : lrs) lr = lr * gamma_;
  return lrs;
}

// -- cosine schedules ------------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler("CosineAnnealingLR", optimizer), T_max_(T_max), eta_min_(eta_min) {
  if (T_max <= 0)
    throw Error("CosineAnnealingLR: T_max must be positive, got " + std::to_string(T_max));
  start();
}

// The recursive form: each lr is the previous one scaled by the ratio of consecutive points
// of the cosine curve, except just after a minimum (every 2·T_max epochs), where the ratio
// would divide by zero and PyTorch adds the rise of the first step instead.
std::vector<double> CosineAnnealingLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0) return lrs;
  const double pi = std::numbers::pi;
  const double T_max = static_cast<double>(T_max_);
  const double epoch = static_cast<double>(last_epoch_);
  for (size_t g = 0; g < lrs.size(); ++g) {
    if ((last_epoch_ - 1 - T_max_) % (2 * T_max_) == 0) {
      lrs[g] = lrs[g] + (base_lrs_[g] - eta_min_) * (1 - std::cos(pi / T_max)) / 2;
    } else {
      lrs[g] = (1 + std::cos(pi * epoch / T_max)) / (1 + std::cos(pi * (epoch - 1) / T_max)) *
                   (lrs[g] - eta_min_) +
               eta_min_;
    }
  }
  return lrs;
}

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

// -- LinearLR --------------------------------------------------------------------------------

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor,
                   int64_t total_iters)
    : LRScheduler("LinearLR", optimizer),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  // A start factor of 0 would divide by zero at the second step (PyTorch 2 refuses it too).
  if (!(start_factor > 0 && start_factor <= 1)) {
    throw Error("LinearLR: start_factor must be in (0, 1], got " + format_number(start_factor));
  }
  if (!(end_factor >= 0 && end_factor <= 1)) {
    throw Error("LinearLR: end_factor must be in [0, 1], got " + format_number(end_factor));
  }
  if (total_iters < 0) {
    throw Error("LinearLR: total_iters must be >= 0, got " + std::to_string(total_iters));
  }
  start();
}

// Chainable: the factor goes from start to end in equal steps, so each step multiplies the
// lr by (previous factor + one step) / previous factor.
std::vector<double> LinearLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr = lr * start_factor_;
    return lrs;
  }
  if (last_epoch_ > total_iters_) return lrs;
  const double change = end_factor_ - start_factor_;
  for (double& lr : lrs) {
    lr = lr * (1. + change / (static_cast<double>(total_iters_) * start_factor_ +
                              static_cast<double>(last_epoch_ - 1) * change));
  }
  return lrs;
}

// -- OneCycleLR ------------------------------------------------------------------------------

OneCycleLR::OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& options)
    : LRScheduler("OneCycleLR", optimizer), options_(options) {
  const OneCycleLROptions& o = options;
  if (o.total_steps != 0) {
    if (o.total_steps < 0) {
      throw Error("OneCycleLR: expected a positive total_steps, got " +
                  std::to_string(o.total_steps));
    }
    total_steps_ = o.total_steps;
  } else {
    if (o.epochs == 0 && o.steps_per_epoch == 0) {
      throw Error("OneCycleLR: define either total_steps or (epochs and steps_per_epoch)");
    }
    if (o.epochs <= 0) {
      throw Error("OneCycleLR: expected a positive epochs, got " + std::to_string(o.epochs));
    }
    if (o.steps_per_epoch <= 0) {
      throw Error("OneCycleLR: expected a positive steps_per_epoch, got " +
                  std::to_string(o.steps_per_epoch));
    }
    total_steps_ = o.epochs * o.steps_per_epoch;
  }
  if (!(o.pct_start >= 0 && o.pct_start <= 1)) {
    throw Error("OneCycleLR: expected pct_start between 0 and 1, got " +
                format_number(o.pct_start));
  }
  const size_t groups = optimizer.num_param_groups();
  if (o.max_lr.values.empty()) throw Error("OneCycleLR: max_lr is required");
  max_lrs_ = o.max_lr.per_group(groups, name(), "max_lr");
  for (double max_lr : max_lrs_) {
    if (!(max_lr >= 0))
      throw Error("OneCycleLR: max_lr must be >= 0, got " + format_number(max_lr));
  }
  if (o.cycle_momentum) {
    if (optimizer.has_option("momentum")) {
      momentum_option_ = "momentum";
    } else if (optimizer.has_option("beta1")) {
      momentum_option_ = "beta1";
    } else {
      throw Error(
          "OneCycleLR: cycle_momentum needs an optimizer with a momentum (or Adam's "
          "beta1); " +
          optimizer.name() + " has neither (set cycle_momentum = false)");
    }
    max_momentums_ = o.max_momentum.per_group(groups, name(), "max_momentum");
    base_momentums_ = o.base_momentum.per_group(groups, name(), "base_momentum");
  }

  const double total = static_cast<double>(total_steps_);
  if (o.three_phase) {
    phases_ = {
        {o.pct_start * total - 1, &OneCycleLR::initial_lrs_, &OneCycleLR::max_lrs_,
         &OneCycleLR::max_momentums_, &OneCycleLR::base_momentums_},
        {2 * o.pct_start * total - 2, &OneCycleLR::max_lrs_, &OneCycleLR::initial_lrs_,
         &OneCycleLR::base_momentums_, &OneCycleLR::max_momentums_},
        {total - 1, &OneCycleLR::initial_lrs_, &OneCycleLR::min_lrs_, &OneCycleLR::max_momentums_,
         &OneCycleLR::max_momentums_},
    };
  } else {
    phases_ = {
        {o.pct_start * total - 1, &OneCycleLR::initial_lrs_, &OneCycleLR::max_lrs_,
         &OneCycleLR::max_momentums_, &OneCycleLR::base_momentums_},
        {total - 1, &OneCycleLR::max_lrs_, &OneCycleLR::min_lrs_, &OneCycleLR::base_momentums_,
         &OneCycleLR::max_momentums_},
    };
  }

  for (size_t g = 0; g < groups; ++g) {
    initial_lrs_.push_back(max_lrs_[g] / o.div_factor);
    min_lrs_.push_back(initial_lrs_[g] / o.final_div_factor);
  }
  // The first step throws if a phase has zero length: then undo what was set.
  std::vector<std::map<std::string, double>> previous_options;
  std::vector<std::optional<double>> previous_initial_lrs;
  for (size_t g = 0; g < groups; ++g) {
    previous_options.push_back(optimizer.named_options(g));
    previous_initial_lrs.push_back(optimizer.initial_lr(g));
  }
  try {
    for (size_t g = 0; g < groups; ++g) {
      optimizer.set_initial_lr(g, initial_lrs_[g]);
      if (o.cycle_momentum) set_option(g, momentum_option_, max_momentums_[g]);
    }
    start();
  } catch (...) {
    for (size_t g = 0; g < groups; ++g) {
      set_options(g, previous_options[g]);
      optimizer.set_initial_lr(g, previous_initial_lrs[g]);
    }
    throw;
  }
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (options_.anneal_strategy == AnnealStrategy::Cos) {
    const double cos_out = std::cos(std::numbers::pi * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
  }
  return (end - start) * pct + start;
}

std::vector<double> OneCycleLR::get_lr() {
  if (last_epoch_ > total_steps_) {
    throw Error("OneCycleLR: tried to step " + std::to_string(last_epoch_) +
                " times; the specified number of total steps is " + std::to_string(total_steps_));
  }
  const double step = static_cast<double>(last_epoch_);
  std::vector<double> lrs;
  for (size_t g = 0; g < optimizer_.num_param_groups(); ++g) {
    double start_step = 0;
    for (size_t i = 0; i < phases_.size(); ++i) {
      const Phase& phase = phases_[i];
      if (step <= phase.end_step || i == phases_.size() - 1) {
        if (phase.end_step == start_step) {
          throw Error("OneCycleLR: phase " + std::to_string(i + 1) +
                      " of the schedule has zero length (total_steps " +
                      std::to_string(total_steps_) + ", pct_start " +
                      format_number(options_.pct_start) + ")");
        }
        const double pct = (step - start_step) / (phase.end_step - start_step);
        lrs.push_back(anneal((this->*phase.start_lr)[g], (this->*phase.end_lr)[g], pct));
        if (options_.cycle_momentum) {
          set_option(g, momentum_option_,
                     anneal((this->*phase.start_momentum)[g], (this->*phase.end_momentum)[g], pct));
        }
        break;
      }
      start_step = phase.end_step;
    }
  }
  return lrs;
}

// -- ReduceLROnPlateau -----------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options)
    : Scheduler("ReduceLROnPlateau", optimizer), options_(options) {
  if (!(options.factor >= 0 && options.factor < 1)) {
    throw Error("ReduceLROnPlateau: factor must be in [0, 1), got " +
                format_number(options.factor));
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
