#include <ember/optim/scheduler.h>

namespace ember::optim {

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

double Scheduler::read(const std::map<std::string, double>& values, const std::string& key) {
  return values.at(key);
}

int64_t Scheduler::read_int(const std::map<std::string, double>& values, const std::string& key) {
  return static_cast<int64_t>(read(values, key));
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
  detail::check_state_header(name_, "scheduler", state.scheduler);
  const std::string where = name_ + ": load_state_dict: ";
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

}  // namespace ember::optim
