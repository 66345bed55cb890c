#pragma once
// Normalisation layers: LayerNorm (statistics over each sample's trailing dims) and
// BatchNorm1d (statistics over the batch, per channel, with running estimates for eval).

#include <cstdint>
#include <optional>
#include <string>

#include <ember/nn/module.h>

namespace ember::nn {

/// y = (x - E[x]) / √(Var[x] + eps) · weight + bias, with mean and (biased) variance taken
/// over the last `normalized_shape.size()` dims of each input (Ba et al., 2016).
/// x [*, normalized_shape] -> y of the same shape. weight (ones) and bias (zeros) have shape
/// `normalized_shape` and exist only when `elementwise_affine`. Throws Error if the input's
/// trailing dims differ from `normalized_shape`.
class LayerNorm : public Layer {
 public:
  explicit LayerNorm(Shape normalized_shape, float eps = 1e-5f, bool elementwise_affine = true);
  /// Normalises over the last dim only: LayerNorm(5) is LayerNorm(Shape{5}).
  explicit LayerNorm(int64_t normalized_size, float eps = 1e-5f, bool elementwise_affine = true);

  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Tensor weight;  // undefined unless elementwise_affine
  Tensor bias;

 private:
  Shape normalized_shape_;
  float eps_;
};

/// Batch normalisation over dim 1 of x [N, C] or [N, C, L] (Ioffe & Szegedy, 2015):
/// y = (x - mean) / √(var + eps) · weight + bias, per channel.
///
/// In training mode mean and var are the batch's (biased var), and the running estimates
/// are updated, without autograd, as
///   running = (1 - momentum) · running + momentum · batch_statistic
/// using the *unbiased* batch variance for running_var; momentum = nullopt (PyTorch's None)
/// takes the cumulative average instead, momentum = 1 / num_batches_tracked. In eval mode
/// the running estimates are used. Without track_running_stats there are no running
/// estimates and batch statistics are used in both modes.
///
/// Buffers, named as in PyTorch: running_mean [C] (zeros), running_var [C] (ones) and
/// num_batches_tracked [] (0). PyTorch stores num_batches_tracked as int64; ember has only
/// float32 tensors, which count batches exactly up to 2^24, and loads PyTorch's int64 value
/// from safetensors up to that count.
///
/// Throws Error for an input that is not 2-d or 3-d, whose dim 1 is not num_features, or
/// that has a single value per channel when batch statistics are needed.
class BatchNorm1d : public Layer {
 public:
  explicit BatchNorm1d(int64_t num_features, float eps = 1e-5f,
                       std::optional<float> momentum = 0.1f, bool affine = true,
                       bool track_running_stats = true);

  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Tensor weight;               // [C], undefined unless affine
  Tensor bias;                 // [C], undefined unless affine
  Tensor running_mean;         // [C], undefined unless track_running_stats
  Tensor running_var;          // [C], undefined unless track_running_stats
  Tensor num_batches_tracked;  // [], undefined unless track_running_stats

 private:
  void update_running_stats(const Tensor& batch_mean, const Tensor& batch_var, int64_t count);

  int64_t num_features_;
  float eps_;
  std::optional<float> momentum_;
};

}  // namespace ember::nn
