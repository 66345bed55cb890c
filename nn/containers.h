#pragma once
// Containers: Sequential (a chain of layers), ModuleList (an indexable list of layers) and
// ModuleDict (layers by name). Each registers its elements as children, so parameter names
// follow PyTorch: "0.weight" for a list, "digit.weight" for a dict.

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <ember/nn/module.h>

namespace ember::nn {

template <class T>
concept LayerType = std::is_base_of_v<Layer, std::remove_cvref_t<T>>;

/// Walks a container's layers as references, so `for (auto& layer : list) layer(x);` reads
/// like Python.
class LayerIterator {
 public:
  using Base = std::vector<Layer*>::const_iterator;
  explicit LayerIterator(Base position) : position_(position) {}
  Layer& operator*() const { return **position_; }
  LayerIterator& operator++() {
    ++position_;
    return *this;
  }
  bool operator==(const LayerIterator& other) const = default;

 private:
  Base position_;
};

/// Throws Error: "<container>: index <index> is out of range for <size> layers".
[[noreturn]] void throw_out_of_range(const std::string& container, size_t index, size_t size);

/// What Sequential and ModuleList share: layers registered under their index ("0", "1",
/// ...) and reachable by index or iteration. `Base` is Layer for Sequential (it has a
/// forward) and Module for ModuleList (it does not, as in PyTorch).
template <class Base>
class IndexedLayers : public Base {
 public:
  /// Appends a layer named by its index and returns a reference to it.
  template <LayerType L>
  std::remove_cvref_t<L>& push_back(L&& layer) {
    auto& added = this->register_module(std::to_string(layers_.size()), std::forward<L>(layer));
    layers_.push_back(&added);
    return added;
  }

  size_t size() const { return layers_.size(); }
  /// The layer at `index`. Throws Error if out of range.
  Layer& operator[](size_t index) const {
    if (index >= layers_.size()) throw_out_of_range(this->type_name(), index, layers_.size());
    return *layers_[index];
  }
  LayerIterator begin() const { return LayerIterator(layers_.begin()); }
  LayerIterator end() const { return LayerIterator(layers_.end()); }

 private:
  std::vector<Layer*> layers_;  // owned as children; the heap keeps them in place
};

/// Layers applied in order: Sequential(Linear(10, 50), ReLU(), Linear(50, 10)).
class Sequential : public IndexedLayers<Layer> {
 public:
  Sequential() = default;
  template <LayerType... Layers>
  requires(sizeof...(Layers) > 0) explicit Sequential(Layers&&... layers) {
    (push_back(std::forward<Layers>(layers)), ...);
  }

  Tensor forward(const Tensor& x) override;
};

/// A list of layers, each callable: `for (auto& layer : list) outputs.push_back(layer(h));`
class ModuleList : public IndexedLayers<Module> {
 public:
  ModuleList() = default;
  template <LayerType... Layers>
  requires(sizeof...(Layers) > 0) explicit ModuleList(Layers&&... layers) {
    (push_back(std::forward<Layers>(layers)), ...);
  }
};

/// Layers by name, in insertion order: heads.insert("digit", Linear(10, 10)).
class ModuleDict : public Module {
 public:
  template <LayerType L>
  std::remove_cvref_t<L>& insert(const std::string& name, L&& layer) {
    auto& added = register_module(name, std::forward<L>(layer));
    layers_.emplace_back(name, &added);
    return added;
  }

  size_t size() const { return layers_.size(); }
  bool contains(const std::string& name) const;
  /// The layer called `name`. Throws Error listing the known names if there is none.
  Layer& operator[](const std::string& name) const;
  auto begin() const { return layers_.begin(); }
  auto end() const { return layers_.end(); }

 private:
  std::vector<std::pair<std::string, Layer*>> layers_;
};

}  // namespace ember::nn
