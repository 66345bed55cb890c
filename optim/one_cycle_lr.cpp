#include <ember/optim/one_cycle_lr.h>

#include <cmath>
#include <numbers>
#include <optional>

namespace ember::optim {

using detail::format_number;

namespace {
// The option that cycle_momentum moves: "momentum", Adam's "beta1", or "" if neither.
std::string momentum_option_of(const Optimizer& optimizer) {
  if (optimizer.has_option("momentum")) return "momentum";
  if (optimizer.has_option("beta1")) return "beta1";
  return "";
}
}  // namespace

OneCycleLR::OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& options)
    : LRScheduler("OneCycleLR", optimizer),
      total_steps_(cycle_length(options)),
      options_(options),
      momentum_option_(momentum_option_of(optimizer)) {
  if (!(options.pct_start >= 0 && options.pct_start <= 1)) {
    throw Error("OneCycleLR: expected pct_start between 0 and 1, got " +
                format_number(options.pct_start));
  }
  const Turns cycle_turns = turns();
  phases_ = phases(cycle_turns);
  start_cycle(cycle_turns);
}

// total_steps, or epochs · steps_per_epoch when it is 0.
int64_t OneCycleLR::cycle_length(const OneCycleLROptions& o) {
  if (o.total_steps != 0) {
    if (o.total_steps < 0) {
      throw Error("OneCycleLR: expected a positive total_steps, got " +
                  std::to_string(o.total_steps));
    }
    return o.total_steps;
  }
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
  return o.epochs * o.steps_per_epoch;
}

// Checks max_lr (and, with cycle_momentum, the momenta and that the optimizer has one),
// then derives the initial and final lrs from it.
OneCycleLR::Turns OneCycleLR::turns() const {
  const size_t groups = optimizer_.num_param_groups();
  if (options_.max_lr.values.empty()) throw Error("OneCycleLR: max_lr is required");
  Turns turns;
  turns.max_lr = options_.max_lr.per_group(groups, name(), "max_lr");
  for (double max_lr : turns.max_lr) {
    if (!(max_lr >= 0))
      throw Error("OneCycleLR: max_lr must be >= 0, got " + format_number(max_lr));
  }
  if (options_.cycle_momentum) {
    if (momentum_option_.empty()) {
      throw Error(
          "OneCycleLR: cycle_momentum needs an optimizer with a momentum (or Adam's beta1); " +
          optimizer_.name() + " has neither (set cycle_momentum = false)");
    }
    turns.max_momentum = options_.max_momentum.per_group(groups, name(), "max_momentum");
    turns.base_momentum = options_.base_momentum.per_group(groups, name(), "base_momentum");
  }
  for (size_t g = 0; g < groups; ++g) {
    turns.initial_lr.push_back(turns.max_lr[g] / options_.div_factor);
    turns.min_lr.push_back(turns.initial_lr[g] / options_.final_div_factor);
  }
  return turns;
}

// Up from the initial lr to max_lr over pct_start of the cycle, then down to the final lr;
// with three_phase, down to the initial lr over as many steps first. The momentum mirrors
// the lr between max_momentum and base_momentum.
std::vector<OneCycleLR::Phase> OneCycleLR::phases(const Turns& t) const {
  const double total = static_cast<double>(total_steps_);
  const double warm_up_end = options_.pct_start * total - 1;
  const Phase warm_up{warm_up_end, t.initial_lr, t.max_lr, t.max_momentum, t.base_momentum};
  if (!options_.three_phase) {
    return {warm_up, {total - 1, t.max_lr, t.min_lr, t.base_momentum, t.max_momentum}};
  }
  return {
      warm_up,
      {2 * options_.pct_start * total - 2, t.max_lr, t.initial_lr, t.base_momentum, t.max_momentum},
      {total - 1, t.initial_lr, t.min_lr, t.max_momentum, t.max_momentum}};
}

// Each group's initial_lr and momentum start the cycle, then the first step is taken. It
// throws if that step falls in a phase of zero length: then every group is put back.
void OneCycleLR::start_cycle(const Turns& turns) {
  const size_t groups = optimizer_.num_param_groups();
  std::vector<std::map<std::string, double>> previous_options;
  std::vector<std::optional<double>> previous_initial_lrs;
  for (size_t g = 0; g < groups; ++g) {
    previous_options.push_back(optimizer_.named_options(g));
    previous_initial_lrs.push_back(optimizer_.initial_lr(g));
  }
  try {
    for (size_t g = 0; g < groups; ++g) {
      optimizer_.set_initial_lr(g, turns.initial_lr[g]);
      if (options_.cycle_momentum) set_option(g, momentum_option_, turns.max_momentum[g]);
    }
    start();
  } catch (...) {
    for (size_t g = 0; g < groups; ++g) {
      set_options(g, previous_options[g]);
      optimizer_.set_initial_lr(g, previous_initial_lrs[g]);
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
        lrs.push_back(anneal(phase.start_lr[g], phase.end_lr[g], pct));
        if (options_.cycle_momentum) {
          set_option(g, momentum_option_,
                     anneal(phase.start_momentum[g], phase.end_momentum[g], pct));
        }
        break;
      }
      start_step = phase.end_step;
    }
  }
  return lrs;
}

}  // namespace ember::optim
