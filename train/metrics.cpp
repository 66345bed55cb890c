// Metrics as plain loops over the inputs' values in double precision. Each public function
// validates its inputs with the helpers below (which name the metric in every message), then
// computes its formula from metrics.h.

#include <ember/train/metrics.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <string>

#include <ember/error.h>
#include <ember/nn/repr.h>

namespace ember::train {
namespace {

using nn::detail::python_float;

std::string str(int64_t value) { return std::to_string(value); }

void check_defined(const Tensor& t, const char* metric, const char* name) {
  if (!t.defined()) throw Error(std::string(metric) + ": " + name + " is undefined");
}

/// The values of t, which must be [N] (or also [N, 1] where `column_allowed`) with N >= 1.
std::vector<double> vector_values(const Tensor& t, const char* metric, const char* name,
                                  bool column_allowed) {
  check_defined(t, metric, name);
  const bool vector = t.dim() == 1 || (column_allowed && t.dim() == 2 && t.size(1) == 1);
  if (!vector) {
    throw Error(std::string(metric) + ": " + name + " must have shape [N]" +
                (column_allowed ? " or [N, 1]" : "") + ", got " + to_string(t.shape()));
  }
  if (t.numel() == 0) {
    throw Error(std::string(metric) + ": " + name + " is empty (shape " + to_string(t.shape()) +
                "); a metric needs at least one sample");
  }
  const float* data = t.data();
  return std::vector<double>(data, data + t.numel());
}

void check_same_length(size_t a, size_t b, const char* metric, const char* name_a,
                       const char* name_b) {
  if (a != b) {
    throw Error(std::string(metric) + ": " + name_a + " and " + name_b +
                " have different lengths (" + str(int64_t(a)) + " != " + str(int64_t(b)) + ")");
  }
}

void check_finite(const std::vector<double>& values, const char* metric, const char* name) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      throw Error(std::string(metric) + ": " + name + "[" + str(int64_t(i)) +
                  "] = " + python_float(float(values[i])) + " is not finite");
    }
  }
}

/// Class indices from a labels tensor [N]: integers in [0, num_classes), or, when num_classes
/// is 0 (accuracy needs no class count), in [0, 2^24), where float32 holds every integer.
std::vector<int64_t> labels(const Tensor& t, int64_t num_classes, const char* metric,
                            const char* name) {
  const std::vector<double> values = vector_values(t, metric, name, /*column_allowed=*/false);
  const double end = num_classes > 0 ? double(num_classes) : 16777216.0;
  std::vector<int64_t> classes(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const double y = values[i];
    const std::string where = std::string(metric) + ": " + name + "[" + str(int64_t(i)) + "] = ";
    if (!(y == std::floor(y))) {
      throw Error(where + python_float(float(y)) + " is not a class index (an integer)");
    }
    if (y < 0 || y >= end) {
      throw Error(where + (std::abs(y) < 1e15 ? str(int64_t(y)) : python_float(float(y))) +
                  " is out of range" +
                  (num_classes > 0 ? " for " + str(num_classes) + " classes (expected 0 to " +
                                         str(num_classes - 1) + ")"
                                   : " (class indices are integers in [0, 2^24))"));
    }
    classes[i] = int64_t(y);
  }
  return classes;
}

void check_num_classes(int64_t num_classes, const char* metric) {
  if (num_classes < 1) {
    throw Error(std::string(metric) + ": num_classes must be at least 1, got " + str(num_classes));
  }
}

/// True and predicted labels of the same length, both in [0, num_classes).
std::pair<std::vector<int64_t>, std::vector<int64_t>> label_pair(const Tensor& y_true,
                                                                 const Tensor& y_pred,
                                                                 int64_t num_classes,
                                                                 const char* metric) {
  auto truth = labels(y_true, num_classes, metric, "y_true");
  auto predicted = labels(y_pred, num_classes, metric, "y_pred");
  check_same_length(truth.size(), predicted.size(), metric, "y_true", "y_pred");
  return {std::move(truth), std::move(predicted)};
}

/// Probabilities as rows over C >= 2 classes: [N, C] as given, [N] (binary) as rows [1 - p, p].
struct ProbabilityRows {
  std::vector<double> values;  // [N, C] row-major
  int64_t rows = 0, classes = 0;
  double at(int64_t i, int64_t c) const { return values[size_t(i * classes + c)]; }
};

ProbabilityRows probability_rows(const Tensor& p, const char* metric) {
  check_defined(p, metric, "probabilities");
  const bool binary = p.dim() == 1;
  if (!(binary || (p.dim() == 2 && p.size(1) >= 2))) {
    throw Error(std::string(metric) + ": probabilities must have shape [N] (binary) or [N, C] " +
                "with C >= 2 classes, got " + to_string(p.shape()));
  }
  if (p.numel() == 0) {
    throw Error(std::string(metric) + ": probabilities are empty (shape " + to_string(p.shape()) +
                "); a metric needs at least one sample");
  }
  ProbabilityRows rows;
  rows.rows = p.size(0);
  rows.classes = binary ? 2 : p.size(1);
  const float* given = p.data();
  for (int64_t k = 0; k < p.numel(); ++k) {
    if (!(given[k] >= 0.f && given[k] <= 1.f)) {
      const std::string index =
          binary ? str(k) : str(k / rows.classes) + ", " + str(k % rows.classes);
      throw Error(std::string(metric) + ": probabilities[" + index +
                  "] = " + python_float(given[k]) + " is outside [0, 1]");
    }
    if (binary) rows.values.push_back(1 - double(given[k]));
    rows.values.push_back(given[k]);
  }
  for (int64_t i = 0; i < rows.rows; ++i) {
    double sum = 0;
    for (int64_t c = 0; c < rows.classes; ++c) sum += rows.at(i, c);
    // Loose enough for float32 softmax outputs over many classes, tight enough to catch
    // logits or unnormalized scores passed by mistake.
    if (std::abs(sum - 1) > 1e-3) {
      throw Error(std::string(metric) + ": probabilities in row " + str(i) + " sum to " +
                  python_float(float(sum)) + ", not 1");
    }
  }
  return rows;
}

/// Labels in [0, C) for the rows of `probabilities`, one per row.
std::vector<int64_t> labels_for_rows(const Tensor& y_true, const ProbabilityRows& rows,
                                     const char* metric) {
  std::vector<int64_t> truth = labels(y_true, rows.classes, metric, "y_true");
  check_same_length(truth.size(), size_t(rows.rows), metric, "y_true", "probabilities");
  return truth;
}

/// The regression inputs' values, each [N] or [N, 1], finite and of one length.
std::vector<std::vector<double>> regression_values(const std::vector<Tensor>& tensors,
                                                   const std::vector<const char*>& names,
                                                   const char* metric) {
  std::vector<std::vector<double>> values;
  for (size_t k = 0; k < tensors.size(); ++k) {
    values.push_back(vector_values(tensors[k], metric, names[k], /*column_allowed=*/true));
    check_finite(values.back(), metric, names[k]);
    check_same_length(values[0].size(), values[k].size(), metric, names[0], names[k]);
  }
  return values;
}

void check_variances(const std::vector<double>& variance, const char* metric) {
  for (size_t i = 0; i < variance.size(); ++i) {
    if (!(variance[i] > 0)) {
      throw Error(std::string(metric) + ": variance[" + str(int64_t(i)) +
                  "] = " + python_float(float(variance[i])) + " is not positive");
    }
  }
}

/// counts[t][p]: how many samples of true class t were predicted as p.
std::vector<std::vector<int64_t>> count_pairs(const std::vector<int64_t>& truth,
                                              const std::vector<int64_t>& predicted,
                                              int64_t num_classes) {
  std::vector<std::vector<int64_t>> counts(size_t(num_classes),
                                           std::vector<int64_t>(size_t(num_classes), 0));
  for (size_t i = 0; i < truth.size(); ++i) ++counts[size_t(truth[i])][size_t(predicted[i])];
  return counts;
}

/// tp_c, fp_c, fn_c of every class, read off the confusion matrix of validated labels.
struct ClassCounts {
  std::vector<int64_t> true_positive, false_positive, false_negative;
};

ClassCounts class_counts(const Tensor& y_true, const Tensor& y_pred, int64_t num_classes,
                         const char* metric) {
  check_num_classes(num_classes, metric);
  const auto [truth, predicted] = label_pair(y_true, y_pred, num_classes, metric);
  const auto matrix = count_pairs(truth, predicted, num_classes);
  const size_t classes = size_t(num_classes);
  ClassCounts counts{std::vector<int64_t>(classes, 0), std::vector<int64_t>(classes, 0),
                     std::vector<int64_t>(classes, 0)};
  for (size_t t = 0; t < classes; ++t) {
    for (size_t p = 0; p < classes; ++p) {
      if (t == p) {
        counts.true_positive[t] += matrix[t][p];
      } else {
        counts.false_negative[t] += matrix[t][p];
        counts.false_positive[p] += matrix[t][p];
      }
    }
  }
  return counts;
}

/// numerator / denominator, with sklearn's zero_division = 0.
double ratio(int64_t numerator, int64_t denominator) {
  return denominator == 0 ? 0.0 : double(numerator) / double(denominator);
}

/// The harmonic mean of precision and recall, 0 when both are 0.
double harmonic_mean(double precision, double recall) {
  const double sum = precision + recall;
  return sum == 0 ? 0.0 : 2 * precision * recall / sum;
}

enum class Score { Precision, Recall, F1 };

double averaged(const Tensor& y_true, const Tensor& y_pred, int64_t num_classes, Average average,
                Score score, const char* metric) {
  const ClassCounts counts = class_counts(y_true, y_pred, num_classes, metric);
  const auto score_of = [score](int64_t tp, int64_t fp, int64_t fn) {
    const double precision = ratio(tp, tp + fp), recall = ratio(tp, tp + fn);
    if (score == Score::Precision) return precision;
    if (score == Score::Recall) return recall;
    return harmonic_mean(precision, recall);
  };
  if (average == Average::Micro) {
    const auto total = [](const std::vector<int64_t>& v) {
      return std::accumulate(v.begin(), v.end(), int64_t{0});
    };
    return score_of(total(counts.true_positive), total(counts.false_positive),
                    total(counts.false_negative));
  }
  double sum = 0;
  for (size_t c = 0; c < size_t(num_classes); ++c) {
    sum += score_of(counts.true_positive[c], counts.false_positive[c], counts.false_negative[c]);
  }
  return sum / double(num_classes);
}

}  // namespace

// -- from predicted labels -----------------------------------------------------------------

double accuracy(const Tensor& y_true, const Tensor& y_pred) {
  const auto [truth, predicted] = label_pair(y_true, y_pred, /*num_classes=*/0, "accuracy");
  int64_t correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) correct += truth[i] == predicted[i];
  return double(correct) / double(truth.size());
}

std::vector<std::vector<int64_t>> confusion_matrix(const Tensor& y_true, const Tensor& y_pred,
                                                   int64_t num_classes) {
  check_num_classes(num_classes, "confusion_matrix");
  const auto [truth, predicted] = label_pair(y_true, y_pred, num_classes, "confusion_matrix");
  return count_pairs(truth, predicted, num_classes);
}

PerClassScores precision_recall_f1(const Tensor& y_true, const Tensor& y_pred,
                                   int64_t num_classes) {
  const ClassCounts counts = class_counts(y_true, y_pred, num_classes, "precision_recall_f1");
  PerClassScores scores;
  for (size_t c = 0; c < size_t(num_classes); ++c) {
    const int64_t tp = counts.true_positive[c];
    scores.precision.push_back(ratio(tp, tp + counts.false_positive[c]));
    scores.recall.push_back(ratio(tp, tp + counts.false_negative[c]));
    scores.f1.push_back(harmonic_mean(scores.precision.back(), scores.recall.back()));
    scores.support.push_back(tp + counts.false_negative[c]);
  }
  return scores;
}

double precision(const Tensor& y_true, const Tensor& y_pred, int64_t num_classes, Average average) {
  return averaged(y_true, y_pred, num_classes, average, Score::Precision, "precision");
}

double recall(const Tensor& y_true, const Tensor& y_pred, int64_t num_classes, Average average) {
  return averaged(y_true, y_pred, num_classes, average, Score::Recall, "recall");
}

double f1_score(const Tensor& y_true, const Tensor& y_pred, int64_t num_classes, Average average) {
  return averaged(y_true, y_pred, num_classes, average, Score::F1, "f1_score");
}

// -- from scores and probabilities ---------------------------------------------------------

double roc_auc(const Tensor& y_true, const Tensor& scores) {
  const std::vector<int64_t> truth = labels(y_true, 2, "roc_auc", "y_true");
  const std::vector<double> score = vector_values(scores, "roc_auc", "scores", false);
  check_same_length(truth.size(), score.size(), "roc_auc", "y_true", "scores");
  check_finite(score, "roc_auc", "scores");
  const int64_t positives = std::accumulate(truth.begin(), truth.end(), int64_t{0});
  const int64_t negatives = int64_t(truth.size()) - positives;
  if (positives == 0 || negatives == 0) {
    throw Error("roc_auc: y_true holds only class " + str(truth[0]) +
                "; ROC AUC is undefined unless both classes 0 and 1 are present");
  }
  // Lower the threshold one distinct score at a time, highest first: each group of tied
  // scores moves the curve from (fp, tp) to (fp + its negatives, tp + its positives) in one
  // step. The trapezoid under that step, in counts, is Δfp · (tp_before + tp_after) / 2
  // (the false positives themselves are never needed, only each group's Δfp);
  // summing twice the area stays in exact integers until the final division.
  std::vector<size_t> order(truth.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
  int64_t true_positives = 0, twice_area = 0;
  for (size_t start = 0; start < order.size();) {
    int64_t group_positives = 0, group_negatives = 0;
    size_t end = start;
    for (; end < order.size() && score[order[end]] == score[order[start]]; ++end) {
      (truth[order[end]] == 1 ? group_positives : group_negatives) += 1;
    }
    twice_area += group_negatives * (2 * true_positives + group_positives);
    true_positives += group_positives;
    start = end;
  }
  return double(twice_area) / (2.0 * double(positives) * double(negatives));
}

double log_loss(const Tensor& y_true, const Tensor& probabilities) {
  const ProbabilityRows rows = probability_rows(probabilities, "log_loss");
  const std::vector<int64_t> truth = labels_for_rows(y_true, rows, "log_loss");
  const double epsilon = std::pow(2.0, -23);  // float32's machine epsilon, see metrics.h
  double total = 0;
  for (int64_t i = 0; i < rows.rows; ++i) {
    double row_sum = 0;
    for (int64_t c = 0; c < rows.classes; ++c) {
      row_sum += std::clamp(rows.at(i, c), epsilon, 1 - epsilon);
    }
    const double p_true = std::clamp(rows.at(i, truth[size_t(i)]), epsilon, 1 - epsilon);
    total -= std::log(p_true / row_sum);
  }
  return total / double(rows.rows);
}

double brier_score(const Tensor& y_true, const Tensor& probabilities) {
  const ProbabilityRows rows = probability_rows(probabilities, "brier_score");
  const std::vector<int64_t> truth = labels_for_rows(y_true, rows, "brier_score");
  // Binary [N] input counts only the class-1 column; rows [N, C] count every column.
  const int64_t first_column = probabilities.dim() == 1 ? 1 : 0;
  double total = 0;
  for (int64_t i = 0; i < rows.rows; ++i) {
    for (int64_t c = first_column; c < rows.classes; ++c) {
      const double error = rows.at(i, c) - (truth[size_t(i)] == c ? 1.0 : 0.0);
      total += error * error;
    }
  }
  return total / double(rows.rows);
}

Calibration calibration(const Tensor& y_true, const Tensor& probabilities, int64_t num_bins) {
  if (num_bins < 1) {
    throw Error("calibration: num_bins must be at least 1, got " + str(num_bins));
  }
  const ProbabilityRows rows = probability_rows(probabilities, "calibration");
  const std::vector<int64_t> truth = labels_for_rows(y_true, rows, "calibration");
  Calibration result;
  for (int64_t b = 0; b < num_bins; ++b) {
    result.bins.push_back({double(b) / double(num_bins), double(b + 1) / double(num_bins)});
  }
  std::vector<double> confidence_sum(size_t(num_bins), 0), correct(size_t(num_bins), 0);
  for (int64_t i = 0; i < rows.rows; ++i) {
    int64_t predicted = 0;  // argmax: the first of equal maxima
    for (int64_t c = 1; c < rows.classes; ++c) {
      if (rows.at(i, c) > rows.at(i, predicted)) predicted = c;
    }
    const double confidence = rows.at(i, predicted);
    size_t b = 0;  // the bin (lower, upper] holding the confidence
    while (b + 1 < size_t(num_bins) && confidence > result.bins[b].upper) ++b;
    ++result.bins[b].count;
    confidence_sum[b] += confidence;
    correct[b] += predicted == truth[size_t(i)] ? 1 : 0;
  }
  for (size_t b = 0; b < size_t(num_bins); ++b) {
    CalibrationBin& bin = result.bins[b];
    if (bin.count == 0) continue;
    bin.mean_confidence = confidence_sum[b] / double(bin.count);
    bin.accuracy = correct[b] / double(bin.count);
    result.expected_calibration_error +=
        double(bin.count) / double(rows.rows) * std::abs(bin.accuracy - bin.mean_confidence);
  }
  return result;
}

double expected_calibration_error(const Tensor& y_true, const Tensor& probabilities,
                                  int64_t num_bins) {
  return calibration(y_true, probabilities, num_bins).expected_calibration_error;
}

// -- regression ------------------------------------------------------------------------------

double rmse(const Tensor& y_true, const Tensor& y_pred) {
  const auto values = regression_values({y_true, y_pred}, {"y_true", "y_pred"}, "rmse");
  double total = 0;
  for (size_t i = 0; i < values[0].size(); ++i) {
    total += (values[1][i] - values[0][i]) * (values[1][i] - values[0][i]);
  }
  return std::sqrt(total / double(values[0].size()));
}

double mae(const Tensor& y_true, const Tensor& y_pred) {
  const auto values = regression_values({y_true, y_pred}, {"y_true", "y_pred"}, "mae");
  double total = 0;
  for (size_t i = 0; i < values[0].size(); ++i) total += std::abs(values[1][i] - values[0][i]);
  return total / double(values[0].size());
}

double r2_score(const Tensor& y_true, const Tensor& y_pred) {
  const auto values = regression_values({y_true, y_pred}, {"y_true", "y_pred"}, "r2_score");
  const std::vector<double>& y = values[0];
  const std::vector<double>& prediction = values[1];
  if (y.size() < 2) {
    throw Error("r2_score: needs at least 2 samples (the variance of y_true), got " +
                str(int64_t(y.size())));
  }
  const double y_mean = std::accumulate(y.begin(), y.end(), 0.0) / double(y.size());
  double residual = 0, total = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    residual += (y[i] - prediction[i]) * (y[i] - prediction[i]);
    total += (y[i] - y_mean) * (y[i] - y_mean);
  }
  if (residual == 0) return 1.0;
  if (total == 0) return 0.0;
  return 1 - residual / total;
}

double gaussian_nll(const Tensor& y_true, const Tensor& mean, const Tensor& variance) {
  const auto values =
      regression_values({y_true, mean, variance}, {"y_true", "mean", "variance"}, "gaussian_nll");
  check_variances(values[2], "gaussian_nll");
  double total = 0;
  for (size_t i = 0; i < values[0].size(); ++i) {
    const double error = values[0][i] - values[1][i], var = values[2][i];
    total += 0.5 * (std::log(2 * std::numbers::pi * var) + error * error / var);
  }
  return total / double(values[0].size());
}

double interval_coverage_95(const Tensor& y_true, const Tensor& mean, const Tensor& variance) {
  const auto values = regression_values({y_true, mean, variance}, {"y_true", "mean", "variance"},
                                        "interval_coverage_95");
  check_variances(values[2], "interval_coverage_95");
  const double z = 1.959963984540054;  // Φ⁻¹(0.975)
  int64_t inside = 0;
  for (size_t i = 0; i < values[0].size(); ++i) {
    inside += std::abs(values[0][i] - values[1][i]) <= z * std::sqrt(values[2][i]);
  }
  return double(inside) / double(values[0].size());
}

}  // namespace ember::train
