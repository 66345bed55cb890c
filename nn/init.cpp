#include <ember/core/autograd.h>
#include <ember/core/random.h>
#include <ember/error.h>
#include <ember/nn/init.h>

#include <cmath>

namespace ember::nn::init {

namespace {

// Every initialiser ends here: an in-place copy, not recorded (parameters require grad,
// and in-place updates of such tensors are only allowed with grad mode off).
Tensor overwrite(Tensor tensor, const Tensor& values) {
  NoGradGuard no_grad;
  tensor.copy_(values);
  return tensor;
}

void check_defined(const Tensor& tensor, const char* function) {
  if (!tensor.defined()) throw Error(std::string("init::") + function + ": undefined tensor");
}

void check_mode(const std::string& mode, const char* function) {
  if (mode != "fan_in" && mode != "fan_out") {
    throw Error(std::string("init::") + function + ": mode '" + mode +
                "' is not supported, use 'fan_in' or 'fan_out'");
  }
}

// The fan kaiming_* scales by: fan_in preserves the variance of the forward pass's
// activations, fan_out that of the backward pass's gradients.
float kaiming_std(const Tensor& tensor, float a, const std::string& mode,
                  const std::string& nonlinearity) {
  const Fans fans = calculate_fan_in_and_fan_out(tensor);
  const int64_t fan = mode == "fan_in" ? fans.fan_in : fans.fan_out;
  return calculate_gain(nonlinearity, a) / std::sqrt(float(fan));
}

}  // namespace

float calculate_gain(const std::string& nonlinearity, std::optional<float> param) {
  for (const char* linear : {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                             "conv_transpose2d", "conv_transpose3d", "sigmoid"}) {
    if (nonlinearity == linear) return 1.f;
  }
  if (nonlinearity == "tanh") return 5.f / 3.f;
  if (nonlinearity == "relu") return std::sqrt(2.f);
  if (nonlinearity == "leaky_relu") {
    const float slope = param.value_or(0.01f);
    return std::sqrt(2.f / (1.f + slope * slope));
  }
  if (nonlinearity == "selu") return 3.f / 4.f;
  throw Error("init::calculate_gain: unsupported nonlinearity '" + nonlinearity + "'");
}

Fans calculate_fan_in_and_fan_out(const Tensor& tensor) {
  check_defined(tensor, "calculate_fan_in_and_fan_out");
  if (tensor.dim() < 2) {
    throw Error(
        "init: fan in and fan out can not be computed for a tensor with fewer than 2 "
        "dimensions, got shape " +
        to_string(tensor.shape()));
  }
  // A conv weight [out, in, k1, k2, ...]: every output sums in · k1 · k2 · ... inputs.
  int64_t receptive_field = 1;
  for (int64_t d = 2; d < tensor.dim(); ++d) receptive_field *= tensor.size(d);
  return {tensor.size(1) * receptive_field, tensor.size(0) * receptive_field};
}

Tensor uniform_(Tensor tensor, float a, float b) {
  check_defined(tensor, "uniform_");
  if (!(a <= b)) {
    throw Error("init::uniform_: a = " + std::to_string(a) +
                " must not exceed b = " + std::to_string(b));
  }
  return overwrite(tensor, uniform(tensor.shape(), a, b));
}

Tensor normal_(Tensor tensor, float mean, float std) {
  check_defined(tensor, "normal_");
  if (!(std >= 0.f)) throw Error("init::normal_: std must be >= 0, got " + std::to_string(std));
  return overwrite(tensor, normal(tensor.shape(), mean, std));
}

Tensor constant_(Tensor tensor, float value) {
  check_defined(tensor, "constant_");
  return overwrite(tensor, full(tensor.shape(), value));
}

Tensor zeros_(Tensor tensor) {
  check_defined(tensor, "zeros_");
  return overwrite(tensor, zeros(tensor.shape()));
}

Tensor ones_(Tensor tensor) {
  check_defined(tensor, "ones_");
  return overwrite(tensor, ones(tensor.shape()));
}

// Var[U(-a, a)] = a²/3, so a = √3 · std.
Tensor xavier_uniform_(Tensor tensor, float gain) {
  check_defined(tensor, "xavier_uniform_");
  const Fans fans = calculate_fan_in_and_fan_out(tensor);
  const float std = gain * std::sqrt(2.f / float(fans.fan_in + fans.fan_out));
  const float bound = std::sqrt(3.f) * std;
  return overwrite(tensor, uniform(tensor.shape(), -bound, bound));
}

Tensor xavier_normal_(Tensor tensor, float gain) {
  check_defined(tensor, "xavier_normal_");
  const Fans fans = calculate_fan_in_and_fan_out(tensor);
  const float std = gain * std::sqrt(2.f / float(fans.fan_in + fans.fan_out));
  return overwrite(tensor, normal(tensor.shape(), 0.f, std));
}

Tensor kaiming_uniform_(Tensor tensor, float a, const std::string& mode,
                        const std::string& nonlinearity) {
  check_defined(tensor, "kaiming_uniform_");
  check_mode(mode, "kaiming_uniform_");
  calculate_gain(nonlinearity, a);  // validates the nonlinearity even for empty tensors
  if (tensor.numel() == 0) return tensor;
  const float bound = std::sqrt(3.f) * kaiming_std(tensor, a, mode, nonlinearity);
  return overwrite(tensor, uniform(tensor.shape(), -bound, bound));
}

Tensor kaiming_normal_(Tensor tensor, float a, const std::string& mode,
                       const std::string& nonlinearity) {
  check_defined(tensor, "kaiming_normal_");
  check_mode(mode, "kaiming_normal_");
  calculate_gain(nonlinearity, a);
  if (tensor.numel() == 0) return tensor;
  return overwrite(tensor, normal(tensor.shape(), 0.f, kaiming_std(tensor, a, mode, nonlinearity)));
}

}  // namespace ember::nn::init
