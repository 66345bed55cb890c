#pragma once
// Parameter initialisation, as torch.nn.init. Each function overwrites the tensor's values
// in place (without recording autograd, bumping its version like any in-place update) and
// returns the same tensor, so `init::zeros_(layer.bias)` works on a parameter that requires
// grad. Random values come from the calling thread's generator (seed it with manual_seed).

#include <cstdint>
#include <optional>
#include <string>

#include <ember/core/tensor.h>

namespace ember::nn::init {

/// The recommended gain for a nonlinearity, as torch.nn.init.calculate_gain:
/// linear, conv{1,2,3}d, conv_transpose{1,2,3}d, sigmoid -> 1; tanh -> 5/3; relu -> √2;
/// leaky_relu -> √(2 / (1 + slope²)) with slope = `param` (default 0.01); selu -> 3/4.
/// `param` is ignored for the others. Throws Error for an unknown nonlinearity.
float calculate_gain(const std::string& nonlinearity, std::optional<float> param = std::nullopt);

/// fan_in = size(1) · receptive field, fan_out = size(0) · receptive field, where the
/// receptive field is the product of the sizes after dim 1 (1 for a matrix). A Linear
/// weight [out, in] has fan_in = in. Throws Error for tensors with fewer than 2 dims.
struct Fans {
  int64_t fan_in;
  int64_t fan_out;
};
Fans calculate_fan_in_and_fan_out(const Tensor& tensor);

/// Fills with samples of U(a, b). Throws Error if a > b.
Tensor uniform_(Tensor tensor, float a = 0.f, float b = 1.f);
/// Fills with samples of N(mean, std²). Throws Error if std < 0.
Tensor normal_(Tensor tensor, float mean = 0.f, float std = 1.f);
Tensor constant_(Tensor tensor, float value);
Tensor zeros_(Tensor tensor);
Tensor ones_(Tensor tensor);

/// Glorot & Bengio (2010): U(-a, a) with a = gain · √(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(Tensor tensor, float gain = 1.f);
/// Glorot & Bengio (2010): N(0, std²) with std = gain · √(2 / (fan_in + fan_out)).
Tensor xavier_normal_(Tensor tensor, float gain = 1.f);

/// He et al. (2015): U(-bound, bound) with bound = gain · √(3 / fan), where
/// gain = calculate_gain(nonlinearity, a) and fan is fan_in or fan_out per `mode`.
/// Throws Error for a mode other than "fan_in"/"fan_out" or an unknown nonlinearity. A
/// zero-element tensor is left as it is (PyTorch warns and does the same).
Tensor kaiming_uniform_(Tensor tensor, float a = 0.f, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu");
/// He et al. (2015): N(0, std²) with std = gain / √fan; arguments as kaiming_uniform_.
Tensor kaiming_normal_(Tensor tensor, float a = 0.f, const std::string& mode = "fan_in",
                       const std::string& nonlinearity = "leaky_relu");

}  // namespace ember::nn::init
