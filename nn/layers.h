#pragma once
// Layers that only pass data through or change its shape: Identity and Flatten.

#include <cstdint>
#include <string>

#include <ember/nn/module.h>

namespace ember::nn {

/// Returns its input unchanged (the same tensor): a placeholder, e.g. to switch a layer off.
class Identity : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
};

/// Merges dims start_dim..end_dim (inclusive, negative counts from the end) into one:
/// [N, C, L] -> [N, C·L] with the defaults. Shares the input's storage (a reshape).
/// Throws Error if a dim is out of range for the input or start_dim comes after end_dim.
class Flatten : public Layer {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  int64_t start_dim_, end_dim_;
};

}  // namespace ember::nn
