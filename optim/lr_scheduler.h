#pragma once
// Learning-rate schedulers: PyTorch 1.13's torch.optim.lr_scheduler, producing the same
// sequence of learning rates (the same formulas, evaluated in double in the same order).
//
// A scheduler drives an optimizer's groups' "lr" (and, for OneCycleLR, their momentum). Build
// it after the optimizer, call optimizer.step() then scheduler.step() once per epoch (or per
// batch), and keep the optimizer alive as long as the scheduler: it holds a reference.
//
//   optim::SGD sgd(model.parameters(), {.lr = 0.1, .momentum = 0.9});
//   optim::StepLR scheduler(sgd, /*step_size=*/30, /*gamma=*/0.1);
//   for (int epoch = 0; epoch < 100; ++epoch) { train(sgd); scheduler.step(); }

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include <ember/optim/optimizer.h>

namespace ember::optim {

/// The numbers that let a scheduler continue where it stopped ("last_epoch", "base_lr.0",
/// "last_lr.0", ...). Its arguments (step_size, gamma, ...) are not part of it: resume with
/// a scheduler built with the same arguments.
struct SchedulerState {
  std::string scheduler;  // "StepLR", ...: another kind of scheduler refuses the state
  std::map<std::string, double> values;
};

/// One value for every parameter group, or one per group: `0.1` or `{0.1, 0.01}`.
struct PerGroup {
  PerGroup(double value) : values{value} {}
  PerGroup(std::initializer_list<double> list) : values(list) {}
  /// One value per group: a single value is repeated. Throws Error naming `scheduler` and
  /// `what` when there are several values but not `num_groups` of them, or none.
  std::vector<double> per_group(size_t num_groups, const std::string& scheduler,
                                const char* what) const;

  std::vector<double> values;
};

/// The base of every scheduler: the optimizer it drives and the lrs it last set.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// "StepLR", "ReduceLROnPlateau", ...
  const std::string& name() const { return name_; }
  /// Each group's lr after the last step (PyTorch's get_last_lr()).
  const std::vector<double>& get_last_lr() const { return last_lr_; }

  SchedulerState state_dict() const;
  /// Restores a state from state_dict() of a scheduler of the same kind and arguments,
  /// driving an optimizer with as many groups. Throws Error, changing nothing, on another
  /// scheduler's state or a missing or unknown value.
  void load_state_dict(const SchedulerState& state);

 protected:
  Scheduler(std::string name, Optimizer& optimizer);
  /// Writes / reads the numbers the subclass needs to resume.
  virtual void save_values(std::map<std::string, double>& values) const = 0;
  virtual void load_values(const std::map<std::string, double>& values) = 0;
  /// Sets every group's lr to `lrs` and remembers them as the last lrs.
  void apply(const std::vector<double>& lrs);
  /// Set options of a group without validating them, as PyTorch's schedulers do.
  void set_options(size_t group, const std::map<std::string, double>& values);
  void set_option(size_t group, const std::string& name, double value) {
    set_options(group, {{name, value}});
  }
  std::vector<double> current_lrs() const;

  Optimizer& optimizer_;
  std::vector<double> last_lr_;

 private:
  std::string name_;
};

/// Schedulers that move the lr one epoch at a time. Building one takes its first step
/// (last_epoch 0), as in PyTorch; each step() then advances last_epoch by one and sets the
/// groups' lrs. Most compute the new lr from the groups' current lr (PyTorch's "chainable"
/// form), so several schedulers can drive one optimizer.
class LRScheduler : public Scheduler {
 public:
  virtual void step();
  int64_t last_epoch() const { return last_epoch_; }
  /// Each group's initial_lr when the scheduler was built.
  const std::vector<double>& base_lrs() const { return base_lrs_; }

 protected:
  LRScheduler(std::string name, Optimizer& optimizer) : Scheduler(std::move(name), optimizer) {}
  /// Called at the end of each subclass's constructor: sets each group's initial_lr if no
  /// scheduler did before, takes the base lrs from them, and takes the first step.
  void start();
  /// The lrs for epoch last_epoch_.
  virtual std::vector<double> get_lr() = 0;
  void save_values(std::map<std::string, double>& values) const override;
  void load_values(const std::map<std::string, double>& values) override;

  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
};

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

/// lr·gamma every epoch.
class ExponentialLR final : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  std::vector<double> get_lr() override;

 private:
  double gamma_;
};

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

enum class AnnealStrategy { Cos, Linear };

struct OneCycleLROptions {
  /// Required: the peak lr.
  PerGroup max_lr = {};
  /// The length of the cycle: total_steps, or epochs · steps_per_epoch when it is 0.
  int64_t total_steps = 0;
  int64_t epochs = 0;
  int64_t steps_per_epoch = 0;
  /// Fraction of the cycle spent increasing the lr.
  double pct_start = 0.3;
  AnnealStrategy anneal_strategy = AnnealStrategy::Cos;
  /// Move the momentum ("momentum", or Adam's beta1) inversely to the lr.
  bool cycle_momentum = true;
  PerGroup base_momentum = 0.85;
  PerGroup max_momentum = 0.95;
  /// initial lr = max_lr / div_factor; final lr = initial lr / final_div_factor.
  double div_factor = 25;
  double final_div_factor = 1e4;
  /// Up, down to the initial lr, then down to the final lr (instead of up, down to final).
  bool three_phase = false;
};

/// The 1cycle policy (Smith & Topin 2017), stepped once per batch: the lr rises from
/// max_lr/div_factor to max_lr over pct_start of the cycle, then anneals to a final lr far
/// below the initial one; the momentum moves the other way. Stepping beyond total_steps
/// throws Error.
class OneCycleLR final : public LRScheduler {
 public:
  /// Throws Error for a missing or non-positive cycle length, pct_start outside [0, 1], a
  /// per-group value list of the wrong length, or cycle_momentum on an optimizer that has
  /// neither "momentum" nor "beta1".
  OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& options);

 protected:
  std::vector<double> get_lr() override;

 private:
  using Values = std::vector<double> OneCycleLR::*;
  struct Phase {
    double end_step;
    Values start_lr, end_lr, start_momentum, end_momentum;
  };
  double anneal(double start, double end, double pct) const;

  int64_t total_steps_;
  OneCycleLROptions options_;
  std::string momentum_option_;  // "momentum" or "beta1"
  std::vector<double> initial_lrs_, max_lrs_, min_lrs_, max_momentums_, base_momentums_;
  std::vector<Phase> phases_;
};

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
