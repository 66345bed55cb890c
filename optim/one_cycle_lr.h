#pragma once
// OneCycleLR: PyTorch 1.13's torch.optim.lr_scheduler.OneCycleLR (see scheduler.h).

#include <cstdint>
#include <string>

#include <ember/optim/scheduler.h>

namespace ember::optim {

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
  /// Each group's lr and momentum where the phases start and end (momenta empty without
  /// cycle_momentum).
  struct Turns {
    std::vector<double> initial_lr, max_lr, min_lr, base_momentum, max_momentum;
  };
  /// Steps from the previous phase's end_step (0 for the first) to end_step, along which
  /// each group's lr anneals from start_lr to end_lr and its momentum from start_momentum to
  /// end_momentum.
  struct Phase {
    double end_step;
    std::vector<double> start_lr, end_lr, start_momentum, end_momentum;
  };

  static int64_t cycle_length(const OneCycleLROptions& options);
  Turns turns() const;
  std::vector<Phase> phases(const Turns& turns) const;
  void start_cycle(const Turns& turns);
  double anneal(double start, double end, double pct) const;

  int64_t total_steps_;
  OneCycleLROptions options_;
  std::string momentum_option_;  // "momentum", "beta1", or empty if the optimizer has neither
  std::vector<Phase> phases_;
};

}  // namespace ember::optim
