#pragma once
// Learning-rate schedulers: PyTorch 1.13's torch.optim.lr_scheduler, producing the same
// sequence of learning rates (the same formulas, evaluated in double in the same order).
// This header holds what they share: the Scheduler base, LRScheduler (the base of the
// schedulers stepped once per epoch), their state dict and PerGroup.
//
// A scheduler drives an optimizer's groups' "lr" (and, for OneCycleLR, their momentum). Build
// it after the optimizer, call optimizer.step() then scheduler.step() once per epoch (or per
// batch), and keep the optimizer alive as long as the scheduler: it holds a reference.
//
//   optim::SGD sgd(model.parameters(), {.lr = 0.1, .momentum = 0.9});
//   optim::StepLR scheduler(sgd, /*step_size=*/30, /*gamma=*/0.1);
//   for (int epoch = 0; epoch < 100; ++epoch) { train(sgd); scheduler.step(); }
//
// Each scheduler has its own header and source, named after its PyTorch class in snake_case
// (StepLR in step_lr.h, ReduceLROnPlateau in reduce_lr_on_plateau.h, ...), so a reader who
// knows the class finds its file in one guess and reads one schedule's math at a time; even
// the close pairs (StepLR and MultiStepLR, the two cosine schedules) differ in state and
// arguments enough that sharing a file would not save a line. <ember/optim/lr_scheduler.h>
// includes them all.

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
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
  /// The value `key` of a state that load_state_dict checked (as a count: read_int).
  static double read(const std::map<std::string, double>& values, const std::string& key);
  static int64_t read_int(const std::map<std::string, double>& values, const std::string& key);
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

}  // namespace ember::optim
