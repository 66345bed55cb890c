#pragma once
// MLP blocks shared by the multi-task architectures: MultiTaskNet's trunk, MMoE's and PLE's
// experts and towers.

#include <cstdint>
#include <string>
#include <vector>

#include <ember/nn/containers.h>

namespace ember::models {

/// Linear(inputs, widths[0]), activation, [Dropout], Linear(widths[0], widths[1]), ...: every
/// Linear followed by `activation` (relu, tanh, gelu, sigmoid or leaky_relu) and, when
/// dropout > 0, by Dropout(dropout). x [B, inputs] -> [B, widths.back()]; empty `widths`
/// gives an empty Sequential (the caller skips it).
nn::Sequential mlp(int64_t inputs, const std::vector<int64_t>& widths,
                   const std::string& activation, float dropout);

/// Appends the activation layer `name` names (relu, tanh, gelu, sigmoid or leaky_relu; the
/// name is checked by check_mlp).
void append_activation(nn::Sequential& layers, const std::string& name);

/// Throws Error "<model>: ..." for inputs < 1, a width < 1 in `widths` (named `field`), an
/// unknown activation or dropout outside [0, 1).
void check_mlp(const std::string& model, int64_t inputs, const std::string& field,
               const std::vector<int64_t>& widths, const std::string& activation, float dropout);

}  // namespace ember::models
