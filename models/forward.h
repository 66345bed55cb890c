#pragma once
// Forward: a model's forward as the trainer and ensembles call it, whatever the model's own
// forward returns.

#include <functional>
#include <type_traits>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::models {

/// Inputs [B, ...] -> one output per task.
using Forward = std::function<std::vector<Tensor>(const Tensor& x)>;

/// The forward of `model`: its `forward(x)` returning one output per task, or a single
/// Tensor (a one-task model) wrapped in a list. `model` must outlive the result.
template <class M>
Forward forward_of(M& model) {
  return [&model](const Tensor& x) -> std::vector<Tensor> {
    if constexpr (std::is_same_v<decltype(model.forward(x)), Tensor>) {
      return {model.forward(x)};
    } else {
      return model.forward(x);
    }
  };
}

}  // namespace ember::models
