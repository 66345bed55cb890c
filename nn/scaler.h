#pragma once
// StandardScaler: per-feature standardisation, (x - mean) / std, like scikit-learn's.

#include <cstdint>

#include <ember/core/tensor.h>

namespace ember::data {

struct StandardScalerOptions {
  /// Divide the sum of squared deviations by N - 1 (the sample std, torch.std's default)
  /// instead of N (the population std, scikit-learn's StandardScaler).
  bool unbiased = false;
};

/// Fit it on the training split only, then transform every split with the training
/// statistics, so nothing about the test set leaks into training:
///
///   data::StandardScaler scaler;
///   Tensor train_x = scaler.fit_transform(train[0]);
///   Tensor test_x = scaler.transform(test[0]);
class StandardScaler {
 public:
  explicit StandardScaler(const StandardScalerOptions& options = {}) : options_(options) {}
  /// A scaler already fitted: the `mean` and `scale` [F] another one learned (to restore a
  /// saved one). Throws Error unless both are [F] with F >= 1 and every scale is positive.
  StandardScaler(Tensor mean, Tensor scale);

  /// Learns each feature's mean and standard deviation from x [N, F], N >= 1: the
  /// population std (divided by N, as scikit-learn), or with `unbiased` the sample std
  /// (divided by N - 1, as torch.std). A feature whose values are all equal (every feature,
  /// when N = 1) has std 0; its scale is set to 1 so transform only centres it instead of
  /// dividing by zero. Throws Error if x is not 2-d or has no rows.
  StandardScaler& fit(const Tensor& x);
  /// (x - mean) / scale for x [..., F]. Differentiable in x (mean and scale are constants).
  /// Throws Error before fit or if x's last dim is not F.
  Tensor transform(const Tensor& x) const;
  /// fit(x), then transform(x).
  Tensor fit_transform(const Tensor& x);
  /// x · scale + mean: undoes transform (e.g. to report predictions in original units).
  Tensor inverse_transform(const Tensor& x) const;
  /// s · scale: a standard deviation [..., F] of transformed values, in original units
  /// (shifting by the mean does not change a spread). Differentiable in s.
  Tensor inverse_transform_std(const Tensor& s) const;
  /// v · scale²: a variance [..., F] of transformed values, in original units (e.g. the
  /// variance head of a Gaussian model trained on standardised targets). Differentiable in v.
  Tensor inverse_transform_var(const Tensor& v) const;

  const StandardScalerOptions& options() const { return options_; }
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

  StandardScalerOptions options_;
  Tensor mean_;
  Tensor scale_;
};

}  // namespace ember::data
