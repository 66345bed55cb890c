#pragma once
// Containers: Sequential (a chain of layers), ModuleList (an indexable list of modules) and
// ModuleDict (modules by name). Each registers its elements as children, so parameter names
// follow PyTorch: "0.weight" for a list, "digit.weight" for a dict, "experts.0.2.bias" for a
// list of Sequentials.
//
// Sequential holds Layers only (it chains single-tensor forwards). ModuleList and ModuleDict
// hold any Module: layers, Sequentials, whole networks, other lists. Their elements are
// Module&; `element(x)` calls a Layer's forward (Module::operator()), and
// `at<Type>(i)` / `at<Type>(name)` gives an element as its own type, e.g. to call a forward
// that returns one output per task.

#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <ember/nn/module.h>

namespace ember::nn {

template <class T>
concept LayerType = std::is_base_of_v<Layer, std::remove_cvref_t<T>>;
template <class T>
concept ModuleType = std::is_base_of_v<Module, std::remove_cvref_t<T>>;

/// Walks a container's elements as references, so `for (auto& layer : list) layer(x);` reads
/// like Python.
template <class Element>
class ElementIterator {
 public:
  using Base = typename std::vector<Element*>::const_iterator;
  explicit ElementIterator(Base position) : position_(position) {}
  Element& operator*() const { return **position_; }
  ElementIterator& operator++() {
    ++position_;
    return *this;
  }
  bool operator==(const ElementIterator& other) const = default;

 private:
  Base position_;
};

/// Throws Error: "<container>: index <index> is out of range for <size> elements".
[[noreturn]] void throw_out_of_range(const std::string& container, size_t index, size_t size);
/// Throws Error: "<container>: <which> is a <actual type>, not a <wanted>".
[[noreturn]] void throw_wrong_type(const std::string& container, const std::string& which,
                                   const Module& actual, const std::type_info& wanted);

/// What Sequential and ModuleList share: elements registered under their index ("0", "1",
/// ...) and reachable by index or iteration. Sequential is a Layer of Layers (it has a
/// forward); ModuleList a Module of Modules (it has none, as in PyTorch).
template <class Base, class Element>
class IndexedModules : public Base {
 public:
  /// Appends an element named by its index and returns a reference to it.
  template <class M>
  requires std::is_base_of_v<Element, std::remove_cvref_t<M>> std::remove_cvref_t<M>
  &push_back(M&& element) {
    auto& added = this->register_module(std::to_string(elements_.size()), std::forward<M>(element));
    elements_.push_back(&added);
    return added;
  }

  size_t size() const { return elements_.size(); }
  /// The element at `index`. Throws Error if out of range.
  Element& operator[](size_t index) const {
    if (index >= elements_.size()) throw_out_of_range(this->type_name(), index, elements_.size());
    return *elements_[index];
  }
  /// The element at `index` as an M. Throws Error if out of range or it is not an M.
  template <ModuleType M>
  M& at(size_t index) const {
    Element& element = (*this)[index];
    auto* typed = dynamic_cast<M*>(&element);
    if (!typed) {
      throw_wrong_type(this->type_name(), "element " + std::to_string(index), element, typeid(M));
    }
    return *typed;
  }
  ElementIterator<Element> begin() const { return ElementIterator<Element>(elements_.begin()); }
  ElementIterator<Element> end() const { return ElementIterator<Element>(elements_.end()); }

 private:
  std::vector<Element*> elements_;  // owned as children; the heap keeps them in place
};

/// Layers applied in order: Sequential(Linear(10, 50), ReLU(), Linear(50, 10)).
class Sequential : public IndexedModules<Layer, Layer> {
 public:
  Sequential() = default;
  template <LayerType... Layers>
  requires(sizeof...(Layers) > 0) explicit Sequential(Layers&&... layers) {
    (push_back(std::forward<Layers>(layers)), ...);
  }

  Tensor forward(const Tensor& x) override;
};

/// A list of modules: `for (auto& layer : list) outputs.push_back(layer(h));` when they are
/// layers, `list.at<MultiTaskNet>(i).forward(x)` when they are not.
class ModuleList : public IndexedModules<Module, Module> {
 public:
  ModuleList() = default;
  template <ModuleType... Modules>
  requires(sizeof...(Modules) > 0) explicit ModuleList(Modules&&... modules) {
    (push_back(std::forward<Modules>(modules)), ...);
  }
};

/// Modules by name, in insertion order: heads.insert("digit", Linear(10, 10)). Iterating
/// gives (name, Module*) pairs.
class ModuleDict : public Module {
 public:
  template <ModuleType M>
  std::remove_cvref_t<M>& insert(const std::string& name, M&& module) {
    auto& added = register_module(name, std::forward<M>(module));
    modules_.emplace_back(name, &added);
    return added;
  }

  size_t size() const { return modules_.size(); }
  bool contains(const std::string& name) const;
  /// The module called `name`. Throws Error listing the known names if there is none.
  Module& operator[](const std::string& name) const;
  /// The module called `name` as an M. Throws Error if there is none or it is not an M.
  template <ModuleType M>
  M& at(const std::string& name) const {
    Module& module = (*this)[name];
    auto* typed = dynamic_cast<M*>(&module);
    if (!typed) throw_wrong_type("ModuleDict", "\"" + name + "\"", module, typeid(M));
    return *typed;
  }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

 private:
  std::vector<std::pair<std::string, Module*>> modules_;
};

}  // namespace ember::nn
