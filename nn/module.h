#pragma once
// nn::Module: the base of every layer and model. A module owns named parameters, buffers
// and child modules, and derives from them everything PyTorch's nn.Module offers: dotted
// parameter names, state dicts, train/eval mode, zero_grad, saving and printing.

#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::nn {

/// Tensors by dotted name, in registration order ("shared_layers.0.weight", ...).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// The base class. Subclasses register what they own in their constructor (or with member
/// initialisers), exactly where a PyTorch module assigns `self.x = ...`:
///
///   struct Net : nn::Module {
///     nn::Linear& fc = register_module("fc", nn::Linear(10, 1));
///     Tensor forward(const Tensor& x) { return fc(x); }
///   };
///
/// Children live on the heap, so the references register_module returns stay valid when
/// the parent is moved. Modules move but do not copy (a copy would alias the parameters).
class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(Module&&) noexcept = default;
  Module& operator=(Module&&) noexcept = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// Registers a parameter (requires grad by default) and returns its handle. Throws on a
  /// duplicate or dotted name.
  Tensor register_parameter(const std::string& name, Tensor parameter, bool requires_grad = true);
  /// Registers a buffer: state that is saved but not trained (e.g. running statistics).
  Tensor register_buffer(const std::string& name, Tensor buffer);
  /// Takes ownership of `child` (moved to the heap) and returns a reference to it.
  template <class M>
  requires std::is_base_of_v<Module, std::remove_cvref_t<M>> std::remove_cvref_t<M>
  &register_module(const std::string& name, M&& child) {
    auto owned = std::make_unique<std::remove_cvref_t<M>>(std::forward<M>(child));
    auto& reference = *owned;
    add_child(name, std::move(owned));
    return reference;
  }

  /// All parameters, this module's first, then each child's in registration order, named
  /// like PyTorch ("0.weight", "heads.digit.bias").
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  /// Direct children with their names.
  std::vector<std::pair<std::string, Module*>> named_children() const;
  /// Total number of parameter elements.
  int64_t num_parameters() const;

  /// Parameters and buffers by dotted name (values share storage with the module).
  NamedTensors state_dict() const;
  /// Copies values from `dict` into this module's parameters and buffers. With `strict`,
  /// every missing key, unexpected key and shape mismatch is reported in one Error (the first
  /// 10 of each kind by name, with the count), and nothing is changed when it throws. Without
  /// `strict`, unmatched keys are skipped (a shape mismatch is still an error).
  void load_state_dict(const NamedTensors& dict, bool strict = true);
  /// Saves the state dict as safetensors, with metadata {"ember_version", "module"}.
  void save(const std::string& path) const;
  /// Loads a file written by `save` (or by PyTorch tools with the same names). Throws Error
  /// naming `path` for an unreadable or malformed file and for whatever load_state_dict refuses.
  void load(const std::string& path, bool strict = true);

  /// Training mode (the default) or evaluation mode, recursively; layers like Dropout and
  /// BatchNorm1d behave differently in each.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Clears every parameter's gradient (sets it undefined, like set_to_none=True).
  void zero_grad();

  /// The class name shown when printing, e.g. "Linear". Defaults to the demangled C++
  /// type name without namespaces.
  virtual std::string type_name() const;
  /// What goes inside the parentheses when printing, e.g. "in_features=10, out_features=1".
  virtual std::string extra_repr() const { return ""; }
  /// PyTorch's module repr: the type, extra_repr, and children indented by name.
  std::string to_string() const;

  /// The single-tensor forward, for modules held in a ModuleList or ModuleDict: a Layer's
  /// forward(x). Throws Error naming the type for any other module (e.g. a multi-task
  /// network whose forward returns one output per task; reach it as list.at<Type>(i)).
  Tensor operator()(const Tensor& x) { return call(x); }

 protected:
  void add_child(const std::string& name, std::unique_ptr<Module> child);
  /// What operator() runs: Layer overrides it with forward; here it throws.
  virtual Tensor call(const Tensor& x);

 private:
  void check_new_name(const std::string& name, const char* what) const;

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
  bool training_ = true;
};

std::ostream& operator<<(std::ostream& os, const Module& module);

/// The demangled name of `type` without namespaces, e.g. "Linear" (what type_name() shows).
std::string type_name_of(const std::type_info& type);

/// A module with a single-tensor forward: what Sequential chains, and what ModuleList and
/// ModuleDict call through Module::operator().
class Layer : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

 protected:
  Tensor call(const Tensor& x) final { return forward(x); }
};

}  // namespace ember::nn
