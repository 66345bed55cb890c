#include <ember/core/autograd.h>
#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/nn/normalization.h>
#include <ember/nn/repr.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace ember::nn {

using detail::python_bool;
using detail::python_float;

LayerNorm::LayerNorm(Shape normalized_shape, float eps, bool elementwise_affine)
    : normalized_shape_(std::move(normalized_shape)), eps_(eps) {
  if (normalized_shape_.empty() || std::any_of(normalized_shape_.begin(), normalized_shape_.end(),
                                               [](int64_t size) { return size <= 0; })) {
    throw Error("LayerNorm: normalized_shape must be non-empty with positive sizes, got " +
                ember::to_string(normalized_shape_));
  }
  if (elementwise_affine) {
    weight = register_parameter("weight", ones(normalized_shape_));
    bias = register_parameter("bias", zeros(normalized_shape_));
  }
}

LayerNorm::LayerNorm(int64_t normalized_size, float eps, bool elementwise_affine)
    : LayerNorm(Shape{normalized_size}, eps, elementwise_affine) {}

// x: [*, normalized_shape] -> y: same shape. Composed from mean/var ops, so the backward
// (and its backward) comes from theirs.
Tensor LayerNorm::forward(const Tensor& x) {
  const int64_t k = static_cast<int64_t>(normalized_shape_.size());
  const bool matches = x.dim() >= k && std::equal(normalized_shape_.begin(),
                                                  normalized_shape_.end(), x.shape().end() - k);
  if (!matches) {
    throw Error("LayerNorm: given normalized_shape=" + ember::to_string(normalized_shape_) +
                ", expected input with shape [*, " + ember::to_string(normalized_shape_).substr(1) +
                ", but got input of shape " + ember::to_string(x.shape()));
  }
  Dims dims;
  for (int64_t d = x.dim() - k; d < x.dim(); ++d) dims.push_back(d);
  const Tensor centered = x - mean(x, dims, /*keepdim=*/true);
  // The biased variance (divide by n), as PyTorch's layer_norm.
  const Tensor variance = mean(centered * centered, dims, /*keepdim=*/true);
  Tensor y = centered / sqrt(variance + eps_);
  if (weight.defined()) y = y * weight + bias;
  return y;
}

std::string LayerNorm::extra_repr() const {
  return detail::python_tuple(normalized_shape_) + ", eps=" + python_float(eps_) +
         ", elementwise_affine=" + python_bool(weight.defined());
}

BatchNorm1d::BatchNorm1d(int64_t num_features, float eps, std::optional<float> momentum,
                         bool affine, bool track_running_stats)
    : num_features_(num_features), eps_(eps), momentum_(momentum) {
  if (num_features <= 0) {
    throw Error("BatchNorm1d: num_features must be positive, got " + std::to_string(num_features));
  }
  if (affine) {
    weight = register_parameter("weight", ones({num_features}));
    bias = register_parameter("bias", zeros({num_features}));
  }
  if (track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}));
    running_var = register_buffer("running_var", ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}));
  }
}

// x: [N, C] or [N, C, L] -> y: same shape; statistics per channel c over dims 0 (and 2).
Tensor BatchNorm1d::forward(const Tensor& x) {
  if (x.dim() != 2 && x.dim() != 3) {
    throw Error("BatchNorm1d: expected a 2-d [N, C] or 3-d [N, C, L] input, got shape " +
                ember::to_string(x.shape()));
  }
  if (x.size(1) != num_features_) {
    throw Error("BatchNorm1d: expected " + std::to_string(num_features_) +
                " features (channels) in dim 1 of the input, got shape " +
                ember::to_string(x.shape()));
  }
  // A per-channel statistic of shape [C] broadcasts against x as [C] or [C, 1].
  const Shape channel_shape = x.dim() == 2 ? Shape{num_features_} : Shape{num_features_, 1};
  const Dims dims = x.dim() == 2 ? Dims{0} : Dims{0, 2};
  const bool use_batch_stats = is_training() || !running_mean.defined();

  Tensor centered, variance;
  if (use_batch_stats) {
    const int64_t count = x.numel() / num_features_;  // values per channel: N or N·L
    if (count <= 1) {
      throw Error(
          "BatchNorm1d: expected more than 1 value per channel when training, got "
          "input of shape " +
          ember::to_string(x.shape()));
    }
    const Tensor batch_mean = mean(x, dims, /*keepdim=*/true);
    centered = x - batch_mean;
    variance = mean(centered * centered, dims, /*keepdim=*/true);  // biased, for normalising
    if (is_training() && running_mean.defined()) {
      update_running_stats(batch_mean.reshape({num_features_}), variance.reshape({num_features_}),
                           count);
    }
  } else {
    centered = x - running_mean.reshape(channel_shape);
    variance = running_var.reshape(channel_shape);
  }
  Tensor y = centered / sqrt(variance + eps_);
  if (weight.defined()) y = y * weight.reshape(channel_shape) + bias.reshape(channel_shape);
  return y;
}

void BatchNorm1d::update_running_stats(const Tensor& batch_mean, const Tensor& batch_var,
                                       int64_t count) {
  NoGradGuard no_grad;
  num_batches_tracked.add_(ones({}));
  const float factor = momentum_ ? *momentum_ : 1.f / num_batches_tracked.item();
  // The running variance estimates the population's: Bessel's correction n / (n - 1).
  const Tensor unbiased_var = batch_var.detach() * (float(count) / float(count - 1));
  running_mean.mul_(1.f - factor).add_(batch_mean.detach(), factor);
  running_var.mul_(1.f - factor).add_(unbiased_var, factor);
}

std::string BatchNorm1d::extra_repr() const {
  return std::to_string(num_features_) + ", eps=" + python_float(eps_) +
         ", momentum=" + (momentum_ ? python_float(*momentum_) : "None") +
         ", affine=" + python_bool(weight.defined()) +
         ", track_running_stats=" + python_bool(running_mean.defined());
}

}  // namespace ember::nn
