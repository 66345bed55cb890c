#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/nn/scaler.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace ember::data {

StandardScaler::StandardScaler(Tensor mean, Tensor scale)
    : mean_(std::move(mean)), scale_(std::move(scale)) {
  const bool vectors = mean_.defined() && scale_.defined() && mean_.dim() == 1 &&
                       mean_.shape() == scale_.shape() && mean_.numel() >= 1;
  if (!vectors) {
    throw Error("StandardScaler: mean and scale must both be [F] with F >= 1, got " +
                (mean_.defined() ? to_string(mean_.shape()) : std::string("undefined")) + " and " +
                (scale_.defined() ? to_string(scale_.shape()) : std::string("undefined")));
  }
  for (float value : scale_.to_vector()) {
    if (!(value > 0.f) || !std::isfinite(value)) {
      throw Error("StandardScaler: every scale must be positive and finite, got " +
                  std::to_string(value));
    }
  }
}

StandardScaler& StandardScaler::fit(const Tensor& x) {
  if (!x.defined() || x.dim() != 2 || x.size(0) == 0) {
    throw Error("StandardScaler::fit: expected x of shape [N, F] with N >= 1, got " +
                (x.defined() ? to_string(x.shape()) : std::string("an undefined tensor")));
  }
  const int64_t rows = x.size(0), features = x.size(1);
  const float* values = x.data();
  std::vector<float> means(static_cast<size_t>(features)), scales(means.size());
  // Two passes in double per feature: the mean, then the mean squared deviation from it
  // (more accurate than E[x²] - E[x]², which cancels badly when the mean is large).
  for (int64_t f = 0; f < features; ++f) {
    double sum = 0.0;
    bool constant = true;
    for (int64_t n = 0; n < rows; ++n) {
      sum += values[n * features + f];
      constant = constant && values[n * features + f] == values[f];
    }
    const double mean = sum / static_cast<double>(rows);
    double squares = 0.0;
    for (int64_t n = 0; n < rows; ++n) {
      const double deviation = values[n * features + f] - mean;
      squares += deviation * deviation;
    }
    // With one row and `unbiased`, the divisor is 0; that feature is constant, scale 1.
    const int64_t divisor = options_.unbiased ? rows - 1 : rows;
    const auto standard_deviation =
        divisor == 0 ? 0.f : static_cast<float>(std::sqrt(squares / static_cast<double>(divisor)));
    means[static_cast<size_t>(f)] = static_cast<float>(mean);
    // A constant feature would divide by zero; scale 1 leaves it centred (scikit-learn too).
    // Tested on the values themselves: the rounded std of equal floats need not be exactly 0.
    scales[static_cast<size_t>(f)] =
        constant || standard_deviation == 0.f ? 1.f : standard_deviation;
  }
  mean_ = tensor(means, Shape{features});
  scale_ = tensor(scales, Shape{features});
  return *this;
}

Tensor StandardScaler::transform(const Tensor& x) const {
  check_features(x, "transform");
  return (x - mean_) / scale_;
}

Tensor StandardScaler::fit_transform(const Tensor& x) { return fit(x).transform(x); }

Tensor StandardScaler::inverse_transform(const Tensor& x) const {
  check_features(x, "inverse_transform");
  return x * scale_ + mean_;
}

Tensor StandardScaler::inverse_transform_std(const Tensor& s) const {
  check_features(s, "inverse_transform_std");
  return s * scale_;
}

Tensor StandardScaler::inverse_transform_var(const Tensor& v) const {
  check_features(v, "inverse_transform_var");
  return v * (scale_ * scale_);
}

int64_t StandardScaler::num_features() const {
  check_fitted("num_features");
  return mean_.numel();
}

const Tensor& StandardScaler::mean() const {
  check_fitted("mean");
  return mean_;
}

const Tensor& StandardScaler::scale() const {
  check_fitted("scale");
  return scale_;
}

void StandardScaler::check_fitted(const char* method) const {
  if (!is_fitted()) {
    throw Error(std::string("StandardScaler::") + method +
                ": the scaler is not fitted; call fit first");
  }
}

void StandardScaler::check_features(const Tensor& x, const char* method) const {
  check_fitted(method);
  if (!x.defined() || x.dim() == 0 || x.size(-1) != mean_.numel()) {
    throw Error(std::string("StandardScaler::") + method + ": expected x of shape [..., " +
                std::to_string(mean_.numel()) + "] (the features seen by fit), got " +
                (x.defined() ? to_string(x.shape()) : std::string("an undefined tensor")));
  }
}

}  // namespace ember::data
