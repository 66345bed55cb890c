#pragma once
// Post-hoc temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks",
// §4.2): one scalar T > 0 divides every logit, fitted on the validation split by NLL. The
// argmax, and so the accuracy, does not change; the confidence does.
//
//   models::TemperatureScaling scaling;
//   scaling.fit(validation_logits, validation_labels);   // T
//   Tensor probabilities = softmax(scaling(test_logits), -1);

#include <cstdint>

#include <ember/core/tensor.h>
#include <ember/nn/module.h>

namespace ember::models {

/// Where fit_temperature looks for T.
struct TemperatureFitOptions {
  double min_temperature = 1e-2;
  double max_temperature = 1e2;
};

/// The T in [min_temperature, max_temperature] that minimises the mean NLL of the labels
/// under softmax(logits / T), to float64 precision (one-dimensional convex problem, solved
/// exactly rather than by LBFGS as the paper does; see calibration.cpp). Where the NLL keeps
/// falling towards a bound (e.g. every sample right with a margin: T -> 0) the bound is
/// returned.
/// logits: [N, C] (C >= 2) or, for a binary task, [N] or [N, 1] (one logit each, read as the
/// two-class logits [0, z]); labels: [N] class indices (floats) in [0, C). Logits are read
/// detached. Throws Error for N = 0, mismatched shapes, labels that are not integers in
/// range, non-finite logits, or bounds that are not 0 < min <= max.
double fit_temperature(const Tensor& logits, const Tensor& labels,
                       const TemperatureFitOptions& options = {});

/// Temperature scaling as a module: the buffer "temperature" (a [] tensor, 1 at first) is
/// saved and loaded with a state dict. forward(logits) = logits / T, differentiable in the
/// logits, any shape.
class TemperatureScaling : public nn::Module {
 public:
  TemperatureScaling();

  /// T = fit_temperature(logits, labels, options), stored and returned.
  double fit(const Tensor& logits, const Tensor& labels, const TemperatureFitOptions& options = {});
  double temperature() const;
  Tensor forward(const Tensor& logits) const;
  Tensor operator()(const Tensor& logits) const { return forward(logits); }

 private:
  Tensor temperature_;
};

}  // namespace ember::models
