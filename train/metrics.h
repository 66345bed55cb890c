#pragma once
// Evaluation metrics for classification and regression, defined as scikit-learn 1.2 defines
// them (and checked against it; tests/reference/generate_metrics.py). They are numbers for
// reports, not losses: nothing here is differentiable, and inputs are read as plain values
// (detached), summed in double precision, and returned as double.
//
// Classification inputs:
//  - labels: a float tensor [N] whose values are integers, class indices in [0, C);
//  - probabilities: [N, C] with C >= 2, each row a distribution over the C classes (values in
//    [0, 1], row sums within 1e-3 of 1); for a binary task also [N], the probability of
//    class 1 (read as the rows [1 - p, p]);
//  - scores (ROC AUC): [N], any finite values, larger meaning "more likely class 1".
// Regression inputs are [N] or [N, 1] (the two may be mixed).
//
// Every invalid input throws Error naming the metric and the offending shapes or values:
// an undefined or empty tensor, a wrong shape, lengths that differ, a label that is not an
// integer or is out of range, a probability outside [0, 1] or a row that does not sum to 1,
// a non-finite score, ROC AUC with one class only, a non-positive variance.

#include <cstdint>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::train {

// -- from predicted labels -----------------------------------------------------------------

/// How per-class scores become one number.
enum class Average {
  Macro,  // the unweighted mean of the C per-class scores
  Micro,  // the score of the pooled counts: Σ_c tp_c over Σ_c (tp_c + fp_c), ...
};

/// Fraction of samples whose predicted label equals the true one: (1/N) Σ_i [ŷ_i == y_i].
/// y_true, y_pred: labels [N], integers in [0, 2^24) (float32 holds each exactly).
double accuracy(const Tensor& y_true, const Tensor& y_pred);

/// counts[t][p]: the number of samples of true class t predicted as class p (rows true,
/// columns predicted, as sklearn.metrics.confusion_matrix). y_true, y_pred: labels [N] in
/// [0, num_classes).
std::vector<std::vector<int64_t>> confusion_matrix(const Tensor& y_true, const Tensor& y_pred,
                                                   int64_t num_classes);

/// Per-class scores, index c for class c, from the confusion matrix's counts:
///   precision_c = tp_c / (tp_c + fp_c), recall_c = tp_c / (tp_c + fn_c),
///   f1_c = 2 · precision_c · recall_c / (precision_c + recall_c).
/// zero_division = 0: a class never predicted has precision 0, a class absent from y_true
/// has recall 0, and f1 is 0 where precision and recall are both 0 (sklearn's default,
/// zero_division="warn", gives the same numbers).
struct PerClassScores {
  std::vector<double> precision, recall, f1;
  std::vector<int64_t> support;  // true samples of each class: tp_c + fn_c
};
PerClassScores precision_recall_f1(const Tensor& y_true, const Tensor& y_pred, int64_t num_classes);

/// precision_recall_f1 reduced with `average` (sklearn's precision_score, recall_score,
/// f1_score with labels = 0..C-1). Macro f1 is the mean of the per-class f1, not the f1 of
/// macro precision and recall. With every class counted, micro precision, recall and f1 all
/// equal accuracy. y_true, y_pred: labels [N] in [0, num_classes).
double precision(const Tensor& y_true, const Tensor& y_pred, int64_t num_classes,
                 Average average = Average::Macro);
double recall(const Tensor& y_true, const Tensor& y_pred, int64_t num_classes,
              Average average = Average::Macro);
double f1_score(const Tensor& y_true, const Tensor& y_pred, int64_t num_classes,
                Average average = Average::Macro);

// -- from scores and probabilities ---------------------------------------------------------

/// Area under the ROC curve of a binary task (sklearn's roc_auc_score): the trapezoid rule
/// over the curve's points (fpr, tpr), one point per distinct score, so tied scores move
/// both rates at once and contribute a diagonal segment. Equal to
///   (#{(i, j): y_i = 1, y_j = 0, s_i > s_j} + ½ #{... s_i = s_j}) / (N₁ · N₀).
/// y_true: labels [N] in {0, 1} with both classes present; scores: [N] finite.
double roc_auc(const Tensor& y_true, const Tensor& scores);

/// Mean negative log-probability of the true class, -(1/N) Σ_i log p_i[y_i] (sklearn's
/// log_loss). As sklearn 1.2 does, every probability is first clipped to [ε, 1 - ε] and each
/// row renormalized to sum 1, so a zero probability gives a large finite loss. ε is float32's
/// machine epsilon, 2⁻²³ ≈ 1.19e-7, what sklearn 1.2's eps="auto" picks for float32 input.
/// y_true: labels [N] in [0, C); probabilities: [N, C] or [N] (binary).
double log_loss(const Tensor& y_true, const Tensor& probabilities);

/// Brier score, a mean squared error of the probabilities:
///  - binary, probabilities [N] of class 1: (1/N) Σ_i (p_i - y_i)² (sklearn's
///    brier_score_loss), y_true in {0, 1};
///  - probabilities [N, C]: (1/N) Σ_i Σ_c (p_ic - [y_i == c])². For C = 2 this is twice
///    the binary score (both columns' errors are counted).
double brier_score(const Tensor& y_true, const Tensor& probabilities);

/// Reliability-diagram data, per equal-width confidence bin b of (lower, upper]:
struct CalibrationBin {
  double lower = 0, upper = 0;  // edges b/B and (b+1)/B
  int64_t count = 0;            // samples whose confidence falls in the bin
  double mean_confidence = 0;   // their mean confidence (0 for an empty bin)
  double accuracy = 0;          // the fraction of them predicted right (0 for an empty bin)
};
struct Calibration {
  double expected_calibration_error = 0;
  std::vector<CalibrationBin> bins;  // num_bins, lowest confidence first
};

/// Expected calibration error (Guo et al. 2017, "On Calibration of Modern Neural
/// Networks", eq. 3) and its reliability diagram. Each sample's confidence is its largest
/// probability and its prediction that class (the first on ties, as argmax); samples fall in
/// num_bins equal-width bins (0, 1/B], (1/B, 2/B], ..., ((B-1)/B, 1], and
///   ECE = Σ_b |B_b|/N · |accuracy(B_b) - mean_confidence(B_b)|.
/// y_true: labels [N] in [0, C); probabilities: [N, C] or [N] (binary). Throws Error if
/// num_bins < 1.
Calibration calibration(const Tensor& y_true, const Tensor& probabilities, int64_t num_bins = 15);
/// calibration(...).expected_calibration_error.
double expected_calibration_error(const Tensor& y_true, const Tensor& probabilities,
                                  int64_t num_bins = 15);

// -- regression ------------------------------------------------------------------------------

/// Root mean squared error, sqrt((1/N) Σ_i (ŷ_i - y_i)²). Shapes [N] or [N, 1].
double rmse(const Tensor& y_true, const Tensor& y_pred);
/// Mean absolute error, (1/N) Σ_i |ŷ_i - y_i|. Shapes [N] or [N, 1].
double mae(const Tensor& y_true, const Tensor& y_pred);
/// Coefficient of determination (sklearn's r2_score): 1 - Σ_i (y_i - ŷ_i)² / Σ_i (y_i - ȳ)².
/// When y_true is constant (the denominator is 0) it is 1 for a perfect prediction and 0
/// otherwise, as sklearn's force_finite=True. Shapes [N] or [N, 1]; throws Error if N < 2
/// (sklearn returns NaN there).
double r2_score(const Tensor& y_true, const Tensor& y_pred);

/// Mean Gaussian negative log-likelihood of y under N(mean, variance), constant included:
///   (1/N) Σ_i ½ (log(2π σ²_i) + (y_i - μ_i)² / σ²_i).
/// Shapes [N] or [N, 1]; throws Error if a variance is not positive and finite.
double gaussian_nll(const Tensor& y_true, const Tensor& mean, const Tensor& variance);

/// Fraction of y_i inside the central 95% interval of N(μ_i, σ²_i):
/// |y_i - μ_i| <= z σ_i with z = Φ⁻¹(0.975) = 1.959963984540054. Well calibrated
/// predictive variances give about 0.95. Shapes and throws as gaussian_nll.
double interval_coverage_95(const Tensor& y_true, const Tensor& mean, const Tensor& variance);

}  // namespace ember::train
