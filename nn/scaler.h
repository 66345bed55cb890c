#pragma once
// StandardScaler: per-feature standardisation, (x - mean) / std, like scikit-learn's.

#include <cstdint>

#include <ember/core/tensor.h>

namespace ember::data {

/// Fit it on the training split only, then transform every split with the training
/// statistics, so nothing about the test set leaks into training:
///
///   data::StandardScaler scaler;
///   Tensor train_x = scaler.fit_transform(train[0]);
///   Tensor test_x = scaler.transform(test[0]);
class StandardScaler {
 public:
  /// Learns each feature's mean and population standard deviation (divided by N, as
  /// scikit-learn) from x [N, F], N >= 1. A feature whose values are all equal has std 0;
  /// its scale is set to 1 so transform only centres it instead of dividing by zero.
  /// Throws Error if x is not 2-d or has no rows.
  StandardScaler& fit(const Tensor& x);
  /// (x - mean) / scale for x [..., F]. Differentiable in x (mean and scale are constants).
  /// Throws Error before fit or if x's last dim is not F.
  Tensor transform(const Tensor& x) const;
  /// fit(x), then transform(x).
  Tensor fit_transform(const Tensor& x);
  /// x · scale + mean: undoes transform (e.g. to report predictions in original units).
  Tensor inverse_transform(const Tensor& x) const;

  bool is_fitted() const { return mean_.defined(); }
  /// Number of features F seen by fit. Throws Error before fit.
  int64_t num_features() const;
  /// Per-feature mean [F]. Throws Error before fit.
  const Tensor& mean() const;
  /// Per-feature scale [F]: the standard deviation, or 1 for a constant feature. Throws
  /// Error before fit.
  const Tensor& scale() const;

 private:
  void check_fitted(const char* method) const;
  void check_features(const Tensor& x, const char* method) const;

  Tensor mean_;
  Tensor scale_;
};

}  // namespace ember::data
