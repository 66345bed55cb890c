#pragma once
// Optimizer: the base of SGD, Adam, AdamW, RMSprop and Adagrad.
//
// An optimizer holds the parameters it updates, split into groups that each carry their own
// options (lr, weight_decay, ...), and one state per parameter: a step count and named
// buffers of the parameter's shape (momentum, moment estimates). `step()` reads every
// parameter's `.grad()` and updates the parameter in place under NoGradGuard, which bumps its
// version counter once. `state_dict()` / `load_state_dict()` capture and restore all of it,
// so a resumed run continues exactly (see optim/checkpoint.h to put it in a file).

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <ember/core/autograd.h>
#include <ember/core/tensor.h>
#include <ember/core/tensor_impl.h>
#include <ember/error.h>

namespace ember::optim {

/// What an optimizer remembers about one parameter: how many updates it made, and named
/// buffers of the parameter's shape, under PyTorch's names ("momentum_buffer", "exp_avg",
/// "exp_avg_sq", ...). Empty until the parameter's first update.
struct ParamState {
  int64_t step = 0;
  std::map<std::string, Tensor> buffers;

  bool has(const std::string& name) const { return buffers.count(name) != 0; }
  /// The buffer `name`, created in `like`'s shape and filled with `value` if missing.
  Tensor& buffer(const std::string& name, const Tensor& like, float value = 0.f);
};

/// A snapshot of everything an optimizer needs to continue exactly where it stopped: the
/// counterpart of PyTorch's `optimizer.state_dict()`. Parameters are referred to by index,
/// numbered across the groups in order, as in PyTorch.
struct OptimizerState {
  struct Group {
    int64_t num_params = 0;
    /// Every option by name ("lr", "momentum", ...; flags are 0 or 1), plus "initial_lr"
    /// once a scheduler has set it.
    std::map<std::string, double> options;
  };
  std::string optimizer;           // "SGD", "Adam", ...: another optimizer refuses the state
  std::vector<Group> groups;       // in order
  std::vector<ParamState> params;  // by parameter index; buffers are copies
};

/// The base class: parameter groups, per-parameter state, zero_grad and state dicts.
/// Optimizers are neither copied nor moved: schedulers hold references to them.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// "SGD", "Adam", ...
  const std::string& name() const { return name_; }

  /// Updates every parameter whose gradient is defined; parameters without a gradient are
  /// skipped (their state does not advance either).
  virtual void step() = 0;
  /// Sets every parameter's gradient undefined, like PyTorch's zero_grad(set_to_none=True):
  /// the next backward stores fresh gradients instead of adding to zeros, and a parameter
  /// that then gets no gradient is skipped by step() instead of being moved by momentum or
  /// weight decay on a zero gradient.
  void zero_grad();

  size_t num_param_groups() const { return groups_.size(); }
  /// The parameters of group `group`, in the order given (a repeated one listed once).
  const std::vector<Tensor>& params(size_t group) const;
  /// Number of parameters over all groups.
  size_t num_params() const { return state_.size(); }
  /// The state of parameter `index` (numbered across the groups in order).
  const ParamState& state(size_t index) const;

  // -- options by name (what schedulers and state dicts use) ------------------------------
  /// The option names every group of this optimizer has, e.g. {"lr", "momentum", ...}.
  virtual std::vector<std::string> option_names() const = 0;
  bool has_option(const std::string& name) const;
  /// Group `group`'s options by name; flags read as 0 or 1.
  virtual std::map<std::string, double> named_options(size_t group) const = 0;
  /// Sets some of group `group`'s options by name, then validates the result; throws Error
  /// (changing nothing) on an unknown name, a flag other than 0 or 1, or an invalid value.
  void set_named_options(size_t group, const std::map<std::string, double>& values) {
    assign_named_options(group, values, /*validate=*/true);
  }
  double option(size_t group, const std::string& name) const;
  void set_option(size_t group, const std::string& name, double value);
  double lr(size_t group) const { return option(group, "lr"); }
  void set_lr(size_t group, double lr) { set_option(group, "lr", lr); }
  /// The lr a group had when the first scheduler attached to it (PyTorch's
  /// group['initial_lr']): later schedulers take it as their base lr.
  std::optional<double> initial_lr(size_t group) const;
  void set_initial_lr(size_t group, std::optional<double> lr);

  // -- state dicts -------------------------------------------------------------------------
  /// A copy of the options of every group and the state of every parameter.
  OptimizerState state_dict() const;
  /// Restores a state from `state_dict()` into an optimizer of the same kind built over
  /// parameters of the same shapes, in the same groups. Options are restored as saved,
  /// without validation (like PyTorch). Throws Error, changing nothing, on another
  /// optimizer's state, a different number of groups or parameters, a missing or unknown
  /// option, a flag other than 0 or 1, or a buffer of an unknown name or wrong shape.
  void load_state_dict(const OptimizerState& state);

 protected:
  explicit Optimizer(std::string name) : name_(std::move(name)) {}

  /// Throws Error unless the optimizer has a group `group`.
  void check_group(size_t group) const;
  /// Appends a group; a parameter listed twice in it is kept once. Throws Error for an
  /// undefined, non-leaf or non-CPU parameter, or one already in another group.
  void add_group(std::vector<Tensor> params);
  /// set_named_options, optionally without validating the values: schedulers write lrs
  /// and momenta unchecked, as PyTorch's write group['lr'] (OneCycleLR's linear schedule can
  /// end a hair below zero on its last step, past the last update).
  virtual void assign_named_options(size_t group, const std::map<std::string, double>& values,
                                    bool validate) = 0;
  friend class Scheduler;
  /// The names of the buffers this optimizer keeps per parameter (load_state_dict accepts
  /// no others).
  virtual std::vector<std::string> state_buffer_names() const = 0;
  /// The loop of every step(): under NoGradGuard, for each parameter whose gradient is
  /// defined, counts the update in state.step, then calls update(group, param, grad, state).
  /// (A template, not a std::function: the update is inlined, and no closure is allocated
  /// per step.)
  template <class Update>
  void for_each_param_with_grad(Update update) {
    NoGradGuard no_grad;
    size_t index = 0;
    for (size_t group = 0; group < groups_.size(); ++group) {
      for (Tensor& param : groups_[group]) {
        ParamState& state = state_[index++];
        // By reference: `grad()` returns a copy, whose two reference-count updates (atomic, once
        // the program has a second thread) cost ~30 ns of the seed model's ~190 ns SGD step.
        const Tensor& grad = param.impl()->grad;
        if (!grad.defined()) continue;
        ++state.step;
        update(group, param, grad, state);
      }
    }
  }

 private:
  std::string name_;
  std::vector<std::vector<Tensor>> groups_;
  std::vector<std::optional<double>> initial_lrs_;  // by group
  std::vector<ParamState> state_;                   // by parameter index
};

/// A group of parameters and the options they are updated with; without options, the
/// optimizer's defaults apply (PyTorch's {'params': ..., 'lr': ...} dicts, where a group
/// gives either all of its options or none).
template <class Options>
struct ParamGroup {
  ParamGroup(std::vector<Tensor> group_params, std::optional<Options> group_options = std::nullopt)
      : params(std::move(group_params)), options(std::move(group_options)) {}

  std::vector<Tensor> params;
  std::optional<Options> options;
};

namespace detail {
/// The shortest decimal text that reads back as exactly `value` ("0.1", "1e-08", "inf").
std::string format_number(double value);
/// Throws Error("<optimizer>: invalid <what> <value> (<rule>)") unless `ok`.
void check_option(bool ok, const char* optimizer, const std::string& what, double value,
                  const char* rule);
[[noreturn]] void throw_unknown_option(const std::string& optimizer, const std::string& name,
                                       const std::vector<std::string>& known);
[[noreturn]] void throw_bad_flag(const std::string& optimizer, const std::string& name,
                                 double value);

/// A count a state dict must match: {"parameters", in the state, here}.
struct StateCount {
  const char* what;
  size_t in_state, here;
};
/// The first checks of every load_state_dict, optimizers' and schedulers': is this state for
/// me, and of my size? Throws Error("<name>: load_state_dict: the state is from <saved_by>,
/// not from <name>") unless `saved_by` is `name` (`kind`, "optimizer" or "scheduler", names
/// an unnamed one), then "...: the state has <n> <what>, this <kind> <m>" for the first count
/// that differs.
void check_state_header(const std::string& name, const char* kind, const std::string& saved_by,
                        std::initializer_list<StateCount> counts = {});
}  // namespace detail

/// What every optimizer shares given its Options struct: construction from a parameter list
/// or from groups, typed access to each group's options, and named access through the
/// struct's `visit_fields`. An Options struct provides `kOptimizer` (its optimizer's name),
/// `validate()`, and `visit_fields(self, visit)` calling visit(name, field) per option.
template <class Options>
class OptimizerWithOptions : public Optimizer {
 public:
  /// The options of group `group`.
  const Options& options(size_t group) const {
    check_group(group);
    return options_[group];
  }
  /// Replaces group `group`'s options after validating them (throws Error if invalid).
  void set_options(size_t group, const Options& options) {
    check_group(group);
    options.validate();
    options_[group] = options;
  }
  /// What groups built without options use.
  const Options& defaults() const { return defaults_; }

  /// Adds a group (PyTorch's add_param_group), with the defaults if it has no options.
  /// Throws Error for invalid options or parameters, adding nothing.
  void add_param_group(ParamGroup<Options> group) {
    const Options options = group.options.value_or(defaults_);
    options.validate();
    add_group(std::move(group.params));
    options_.push_back(options);
  }

  std::vector<std::string> option_names() const override {
    std::vector<std::string> names;
    Options::visit_fields(defaults_, [&](const char* name, const auto&) { names.push_back(name); });
    return names;
  }

  std::map<std::string, double> named_options(size_t group) const override {
    std::map<std::string, double> values;
    Options::visit_fields(options(group), [&](const char* name, const auto& field) {
      values[name] = static_cast<double>(field);
    });
    return values;
  }

 protected:
  void assign_named_options(size_t group, const std::map<std::string, double>& values,
                            bool validate) override {
    Options updated = options(group);
    for (const auto& [name, value] : values) {
      if (!assign_field(updated, name, value)) {
        detail::throw_unknown_option(Options::kOptimizer, name, option_names());
      }
    }
    if (validate) updated.validate();
    options_[group] = updated;
  }

  /// The loop of every step() (see for_each_param_with_grad), calling
  /// update(options, param, grad, state) with the parameter's group's options; `update` is a
  /// template argument, so it is inlined into the loop.
  template <auto update>
  void update_each_param() {
    for_each_param_with_grad(
        [this](size_t group, Tensor& param, const Tensor& grad, ParamState& state) {
          update(options_[group], param, grad, state);
        });
  }

  OptimizerWithOptions(std::vector<Tensor> params, const Options& options)
      : OptimizerWithOptions(
            std::vector<ParamGroup<Options>>{ParamGroup<Options>{std::move(params), options}},
            options) {}

  OptimizerWithOptions(std::vector<ParamGroup<Options>> groups, const Options& defaults)
      : Optimizer(Options::kOptimizer), defaults_(defaults) {
    size_t total = 0;
    for (const auto& group : groups) total += group.params.size();
    if (total == 0) throw Error(std::string(Options::kOptimizer) + ": got an empty parameter list");
    for (auto& group : groups) add_param_group(std::move(group));
  }

 private:
  /// Sets the field `name` of `updated` to `value` (a flag to value != 0); false if there is
  /// no such field. Throws Error for a flag other than 0 or 1.
  static bool assign_field(Options& updated, const std::string& name, double value) {
    bool found = false;
    Options::visit_fields(updated, [&](const char* field_name, auto& field) {
      if (name != field_name) return;
      found = true;
      if constexpr (std::is_same_v<std::remove_cvref_t<decltype(field)>, bool>) {
        if (value != 0 && value != 1) detail::throw_bad_flag(Options::kOptimizer, name, value);
        field = value != 0;
      } else {
        field = value;
      }
    });
    return found;
  }

  Options defaults_;
  std::vector<Options> options_;  // by group
};

}  // namespace ember::optim
