#pragma once
// Ensemble: K member models of any architecture, kept side by side. This file holds the
// members and their raw outputs; how outputs are combined, and the spread between members,
// are in models/ensemble/combine.h.
//
//   models::Ensemble ensemble(5, [&](int64_t k) { return models::MultiTaskNet(config); });
//   std::vector<Tensor> stacked = ensemble.stacked_outputs(x);  // per task: [K, B, out]

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ember/core/tensor.h>
#include <ember/models/forward.h>
#include <ember/nn/module.h>

namespace ember::models {

/// Members are registered as "members.0", "members.1", ..., so an ensemble saves and loads
/// like any module. Each member's forward gives one output per task (or a single Tensor).
class Ensemble : public nn::Module {
 public:
  Ensemble() = default;
  /// `members` members made by `factory(k)` for k = 0..members-1 (each draws its own
  /// initialisation from the calling thread's generator, in order). Throws Error for members < 1.
  template <class Factory>
  Ensemble(int64_t members, Factory&& factory) {
    check_size(members);
    for (int64_t k = 0; k < members; ++k) add(factory(k));
  }

  /// Appends a member and returns a reference to it.
  template <class M>
  requires std::is_base_of_v<nn::Module, std::remove_cvref_t<M>> std::remove_cvref_t<M>
  &add(M&& member) {
    auto& added =
        members_.register_module(std::to_string(forwards_.size()), std::forward<M>(member));
    modules_.push_back(&added);
    forwards_.push_back(forward_of(added));
    return added;
  }

  int64_t size() const { return static_cast<int64_t>(modules_.size()); }
  /// Member k as a Module, or as its own type (Error if it is not an M).
  nn::Module& member(int64_t k) const;
  template <class M>
  M& member_as(int64_t k) const {
    auto* typed = dynamic_cast<M*>(&member(k));
    if (!typed) throw_wrong_type(k);
    return *typed;
  }

  /// Member k's outputs for `x`, one per task.
  std::vector<Tensor> member_outputs(int64_t k, const Tensor& x) const;
  /// Every member's outputs stacked per task: output t is [K, B, ...] (member k's at k).
  /// Throws Error when members give different numbers of outputs or shapes.
  std::vector<Tensor> stacked_outputs(const Tensor& x) const;

 private:
  static void check_size(int64_t members);
  [[noreturn]] void throw_wrong_type(int64_t k) const;

  nn::Module& members_ = register_module("members", nn::Module());
  std::vector<nn::Module*> modules_;  // children of members_, in order
  std::vector<Forward> forwards_;
};

}  // namespace ember::models
