#include <ember/core/autograd.h>
#include <ember/core/ops.h>
#include <ember/optim/optimizer.h>

#include <algorithm>
#include <charconv>

namespace ember::optim {

namespace {
// Buffers copied into their own storage, so a state dict is a snapshot that later steps do
// not change.
ParamState clone(const ParamState& state) {
  ParamState copy{state.step, {}};
  for (const auto& [name, buffer] : state.buffers)
    copy.buffers[name] = ember::clone(buffer.detach());
  return copy;
}

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}
}  // namespace

namespace detail {
std::string format_number(double value) {
  char text[64];
  const auto result = std::to_chars(text, text + sizeof(text), value);
  return std::string(text, result.ptr);
}

void check_option(bool ok, const char* optimizer, const std::string& what, double value,
                  const char* rule) {
  if (!ok) {
    throw Error(std::string(optimizer) + ": invalid " + what + " " + format_number(value) + " (" +
                rule + ")");
  }
}

void throw_unknown_option(const std::string& optimizer, const std::string& name,
                          const std::vector<std::string>& known) {
  throw Error(optimizer + ": no option named \"" + name + "\" (options: " + join(known) + ")");
}

void throw_bad_flag(const std::string& optimizer, const std::string& name, double value) {
  throw Error(optimizer + ": option \"" + name + "\" is a flag (0 or 1), got " +
              format_number(value));
}

void check_state_header(const std::string& name, const char* kind, const std::string& saved_by,
                        std::initializer_list<StateCount> counts) {
  const std::string where = name + ": load_state_dict: ";
  if (saved_by != name) {
    throw Error(where + "the state is from " +
                (saved_by.empty() ? std::string("an unnamed ") + kind : saved_by) + ", not from " +
                name);
  }
  for (const StateCount& count : counts) {
    if (count.in_state != count.here) {
      throw Error(where + "the state has " + std::to_string(count.in_state) + " " + count.what +
                  ", this " + kind + " " + std::to_string(count.here));
    }
  }
}
}  // namespace detail

Tensor& ParamState::buffer(const std::string& name, const Tensor& like, float value) {
  auto found = buffers.find(name);
  if (found == buffers.end()) found = buffers.emplace(name, full(like.shape(), value)).first;
  return found->second;
}

void Optimizer::zero_grad() {
  for (const auto& group : groups_) {
    for (const Tensor& param : group) param.set_grad(Tensor());
  }
}

void Optimizer::check_group(size_t group) const {
  if (group >= groups_.size()) {
    throw Error(name_ + ": no parameter group " + std::to_string(group) + " (it has " +
                std::to_string(groups_.size()) + ")");
  }
}

const std::vector<Tensor>& Optimizer::params(size_t group) const {
  check_group(group);
  return groups_[group];
}

const ParamState& Optimizer::state(size_t index) const {
  if (index >= state_.size()) {
    throw Error(name_ + ": no parameter " + std::to_string(index) + " (it has " +
                std::to_string(state_.size()) + ")");
  }
  return state_[index];
}

bool Optimizer::has_option(const std::string& name) const {
  const std::vector<std::string> names = option_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

double Optimizer::option(size_t group, const std::string& name) const {
  const std::map<std::string, double> values = named_options(group);
  const auto found = values.find(name);
  if (found == values.end()) detail::throw_unknown_option(name_, name, option_names());
  return found->second;
}

void Optimizer::set_option(size_t group, const std::string& name, double value) {
  set_named_options(group, {{name, value}});
}

std::optional<double> Optimizer::initial_lr(size_t group) const {
  check_group(group);
  return initial_lrs_[group];
}

void Optimizer::set_initial_lr(size_t group, std::optional<double> lr) {
  check_group(group);
  initial_lrs_[group] = lr;
}

// A parameter listed twice in one group is kept once: Module::parameters() lists a shared
// parameter once per registration, and updating it twice per step would be wrong. In two
// groups it is an error, as in PyTorch: which group's options would apply?
void Optimizer::add_group(std::vector<Tensor> params) {
  std::vector<Tensor> unique;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& param = params[i];
    const std::string which =
        name_ + ": parameter " + std::to_string(i) + " of group " + std::to_string(groups_.size());
    if (!param.defined()) throw Error(which + " is undefined");
    if (!param.is_leaf()) {
      throw Error(which + " is not a leaf (grad_fn=" + param.grad_fn()->name() +
                  "); optimize leaves, e.g. its detach()");
    }
    if (param.device() != Device::CPU) {
      throw Error(which + " is not on the CPU; optimizers update CPU tensors");
    }
    auto same = [&](const Tensor& other) { return other.impl() == param.impl(); };
    for (size_t g = 0; g < groups_.size(); ++g) {
      if (std::any_of(groups_[g].begin(), groups_[g].end(), same)) {
        throw Error(which + " is already in group " + std::to_string(g) +
                    " (a parameter may belong to one group only)");
      }
    }
    if (std::none_of(unique.begin(), unique.end(), same)) unique.push_back(param);
  }
  state_.resize(state_.size() + unique.size());
  groups_.push_back(std::move(unique));
  initial_lrs_.emplace_back();
}

OptimizerState Optimizer::state_dict() const {
  OptimizerState state{name_, {}, {}};
  for (size_t g = 0; g < groups_.size(); ++g) {
    OptimizerState::Group group{static_cast<int64_t>(groups_[g].size()), named_options(g)};
    if (initial_lrs_[g]) group.options["initial_lr"] = *initial_lrs_[g];
    state.groups.push_back(std::move(group));
  }
  for (const ParamState& param_state : state_) state.params.push_back(clone(param_state));
  return state;
}

void Optimizer::load_state_dict(const OptimizerState& state) {
  detail::check_state_header(name_, "optimizer", state.optimizer,
                             {{"parameter groups", state.groups.size(), groups_.size()},
                              {"parameters", state.params.size(), state_.size()}});
  const std::string where = name_ + ": load_state_dict: ";
  const std::vector<std::string> names = option_names();
  for (size_t g = 0; g < groups_.size(); ++g) {
    const OptimizerState::Group& group = state.groups[g];
    const std::string which = "group " + std::to_string(g);
    if (group.num_params != static_cast<int64_t>(groups_[g].size())) {
      throw Error(where + which + " has " + std::to_string(group.num_params) +
                  " parameters in the state, " + std::to_string(groups_[g].size()) + " here");
    }
    for (const std::string& name : names) {
      if (!group.options.count(name)) {
        throw Error(where + which + " misses option \"" + name + "\"");
      }
    }
    for (const auto& [name, value] : group.options) {
      if (name != "initial_lr" && std::find(names.begin(), names.end(), name) == names.end()) {
        throw Error(where + which + " has an unknown option \"" + name + "\"");
      }
    }
  }
  const std::vector<std::string> buffer_names = state_buffer_names();
  size_t index = 0;
  for (const auto& group : groups_) {
    for (const Tensor& param : group) {
      const ParamState& param_state = state.params[index];
      const std::string which = "parameter " + std::to_string(index++);
      if (param_state.step < 0) {
        throw Error(where + which + " has a negative step count " +
                    std::to_string(param_state.step));
      }
      for (const auto& [name, buffer] : param_state.buffers) {
        if (std::find(buffer_names.begin(), buffer_names.end(), name) == buffer_names.end()) {
          throw Error(where + which + " has an unknown buffer \"" + name + "\" (" + name_ +
                      " keeps: " + join(buffer_names) + ")");
        }
        if (!buffer.defined() || buffer.shape() != param.shape()) {
          throw Error(where + which + " has buffer \"" + name + "\" of shape " +
                      (buffer.defined() ? ember::to_string(buffer.shape()) : "undefined") +
                      ", but the parameter has shape " + ember::to_string(param.shape()));
        }
      }
    }
  }

  // Options are restored as saved, unvalidated like a scheduler's writes (a state saved after
  // OneCycleLR's last step may hold an lr a hair below zero). Only a flag other than 0 or 1
  // is refused, which may happen after earlier groups were set: then restore those.
  std::vector<std::map<std::string, double>> previous;
  try {
    for (size_t g = 0; g < groups_.size(); ++g) {
      previous.push_back(named_options(g));
      std::map<std::string, double> values = state.groups[g].options;
      values.erase("initial_lr");
      assign_named_options(g, values, /*validate=*/false);
    }
  } catch (...) {
    for (size_t g = 0; g < previous.size(); ++g) assign_named_options(g, previous[g], false);
    throw;
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    const auto& options = state.groups[g].options;
    const auto found = options.find("initial_lr");
    initial_lrs_[g] = found == options.end() ? std::nullopt : std::optional<double>(found->second);
  }
  for (size_t i = 0; i < state_.size(); ++i) state_[i] = clone(state.params[i]);
}

}  // namespace ember::optim
