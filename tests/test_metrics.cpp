// Metrics against scikit-learn 1.2 and NumPy. tests/reference/generate_metrics.py wrote
// metrics.json: random classification cases (two classes, 3 to 5 classes with some never
// predicted or never true, ROC scores with ties, zero probabilities) and regression cases,
// with the references computed in float64 from the float32 values ember reads. Then each
// invalid input's error.

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <ember/core/tensor.h>
#include <ember/error.h>
#include <ember/train/metrics.h>

using namespace ember;
using namespace ember::train;
using Catch::Contains;
using nlohmann::json;

namespace {

// Both sides compute in double from the same float32 values and differ only in summation
// order (NumPy sums pairwise) and in rounding of equivalent formulas: ~1e-15 relative.
constexpr double kRelative = 1e-9;

const json& fixture() {
  static const json loaded = [] {
    std::ifstream file(std::string(EMBER_REFERENCE_DIR) + "/metrics.json");
    if (!file) throw std::runtime_error("cannot open tests/reference/metrics.json");
    return json::parse(file);
  }();
  return loaded;
}

/// A JSON array of numbers as a tensor [N].
Tensor vector_tensor(const json& values) {
  return tensor(values.get<std::vector<float>>(), {int64_t(values.size())});
}

/// A JSON array of rows as a tensor [N, C].
Tensor matrix_tensor(const json& rows) {
  std::vector<float> flat;
  for (const json& row : rows) {
    for (const json& value : row) flat.push_back(value.get<float>());
  }
  return tensor(flat, {int64_t(rows.size()), int64_t(rows[0].size())});
}

void check_close(double actual, const json& expected) {
  CHECK(actual == Approx(expected.get<double>()).epsilon(kRelative));
}

void check_close(const std::vector<double>& actual, const json& expected) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO("index " << i);
    check_close(actual[i], expected[i]);
  }
}

void check_calibration(const Calibration& actual, const json& expected) {
  check_close(actual.expected_calibration_error, expected["ece"]);
  REQUIRE(actual.bins.size() == expected["bins"].size());
  for (size_t b = 0; b < actual.bins.size(); ++b) {
    INFO("bin " << b);
    const json& bin = expected["bins"][b];
    check_close(actual.bins[b].lower, bin["lower"]);
    check_close(actual.bins[b].upper, bin["upper"]);
    CHECK(actual.bins[b].count == bin["count"].get<int64_t>());
    check_close(actual.bins[b].mean_confidence, bin["mean_confidence"]);
    check_close(actual.bins[b].accuracy, bin["accuracy"]);
  }
}

/// The message of the ember::Error that `call` throws ("no ember::Error" if it throws none).
std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& error) {
    return error.what();
  }
  return "no ember::Error";
}

}  // namespace

// -- against the references ----------------------------------------------------------------

TEST_CASE("label metrics match scikit-learn, zero_division cases included", "[train][metrics]") {
  for (const json& c : fixture()["classification"]) {
    INFO(c["name"].get<std::string>());
    const Tensor y_true = vector_tensor(c["y_true"]), y_pred = vector_tensor(c["y_pred"]);
    const int64_t classes = c["num_classes"].get<int64_t>();
    const json& expected = c["expected"];
    check_close(accuracy(y_true, y_pred), expected["accuracy"]);
    CHECK(confusion_matrix(y_true, y_pred, classes) ==
          expected["confusion_matrix"].get<std::vector<std::vector<int64_t>>>());
    const PerClassScores per_class = precision_recall_f1(y_true, y_pred, classes);
    check_close(per_class.precision, expected["precision"]["per_class"]);
    check_close(per_class.recall, expected["recall"]["per_class"]);
    check_close(per_class.f1, expected["f1"]["per_class"]);
    for (const auto& [name, average] :
         {std::pair{"macro", Average::Macro}, {"micro", Average::Micro}}) {
      INFO(name);
      check_close(precision(y_true, y_pred, classes, average), expected["precision"][name]);
      check_close(recall(y_true, y_pred, classes, average), expected["recall"][name]);
      check_close(f1_score(y_true, y_pred, classes, average), expected["f1"][name]);
    }
  }
}

TEST_CASE("precision_recall_f1 reports each class's support", "[train][metrics]") {
  const Tensor y_true = tensor({0.f, 2.f, 2.f, 1.f, 2.f}),
               y_pred = tensor({0.f, 0.f, 0.f, 0.f, 0.f});
  CHECK(precision_recall_f1(y_true, y_pred, 4).support == std::vector<int64_t>{1, 1, 3, 0});
}

TEST_CASE("roc_auc matches scikit-learn with tied scores", "[train][metrics]") {
  for (const json& c : fixture()["classification"]) {
    INFO(c["name"].get<std::string>());
    check_close(roc_auc(vector_tensor(c["roc"]["y_true"]), vector_tensor(c["roc"]["scores"])),
                c["expected"]["roc_auc"]);
  }
}

TEST_CASE("roc_auc is 1 for separated classes, 0 reversed and 0.5 when all scores tie",
          "[train][metrics]") {
  const Tensor y_true = tensor({0.f, 1.f, 0.f, 1.f});
  CHECK(roc_auc(y_true, tensor({0.1f, 0.9f, 0.2f, 0.8f})) == 1.0);
  CHECK(roc_auc(y_true, tensor({0.9f, 0.1f, 0.8f, 0.2f})) == 0.0);
  CHECK(roc_auc(y_true, tensor({0.5f, 0.5f, 0.5f, 0.5f})) == 0.5);
}

TEST_CASE("log_loss matches scikit-learn, zero probabilities clipped", "[train][metrics]") {
  for (const json& c : fixture()["classification"]) {
    INFO(c["name"].get<std::string>());
    const Tensor y_true = vector_tensor(c["y_true"]);
    check_close(log_loss(y_true, matrix_tensor(c["probabilities"])), c["expected"]["log_loss"]);
    if (c.contains("binary_probabilities")) {
      check_close(log_loss(y_true, vector_tensor(c["binary_probabilities"])),
                  c["expected"]["binary_log_loss"]);
    }
  }
}

TEST_CASE("brier_score matches scikit-learn (binary) and NumPy (multi-class)", "[train][metrics]") {
  for (const json& c : fixture()["classification"]) {
    INFO(c["name"].get<std::string>());
    const Tensor y_true = vector_tensor(c["y_true"]);
    check_close(brier_score(y_true, matrix_tensor(c["probabilities"])),
                c["expected"]["brier_score"]);
    if (c.contains("binary_probabilities")) {
      check_close(brier_score(y_true, vector_tensor(c["binary_probabilities"])),
                  c["expected"]["binary_brier_score"]);
    }
  }
}

TEST_CASE("calibration matches NumPy: ECE and every reliability bin", "[train][metrics]") {
  for (const json& c : fixture()["classification"]) {
    INFO(c["name"].get<std::string>());
    const Tensor y_true = vector_tensor(c["y_true"]),
                 probabilities = matrix_tensor(c["probabilities"]);
    check_calibration(calibration(y_true, probabilities), c["expected"]["calibration"]);
    check_close(expected_calibration_error(y_true, probabilities),
                c["expected"]["calibration"]["ece"]);
    if (c.contains("binary_probabilities")) {
      check_calibration(calibration(y_true, vector_tensor(c["binary_probabilities"])),
                        c["expected"]["binary_calibration"]);
    }
  }
}

TEST_CASE("calibration bins include their upper edge: a confidence on an edge joins the lower bin",
          "[train][metrics]") {
  // Confidences 0.5, 0.75, 1 and 0.625 in 4 bins: (0.25, 0.5] gets 0.5 (right),
  // (0.5, 0.75] gets 0.75 (wrong) and 0.625 (right), (0.75, 1] gets 1 (right).
  const Tensor y_true = tensor({0.f, 0.f, 1.f, 0.f});
  const Tensor probabilities = tensor({0.5f, 0.5f, 0.25f, 0.75f, 0.f, 1.f, 0.625f, 0.375f}, {4, 2});
  const Calibration result = calibration(y_true, probabilities, 4);
  REQUIRE(result.bins.size() == 4);
  CHECK(result.bins[0].count == 0);
  CHECK(result.bins[1].count == 1);
  CHECK(result.bins[2].count == 2);
  CHECK(result.bins[3].count == 1);
  CHECK(result.bins[2].mean_confidence == 0.6875);
  CHECK(result.bins[2].accuracy == 0.5);
  CHECK(result.bins[3].lower == 0.75);
  // Σ |B_b|/N |acc - conf| = 1/4 · 0.5 + 2/4 · 0.1875 + 1/4 · 0
  CHECK(result.expected_calibration_error == Approx(0.21875).epsilon(kRelative));
}

TEST_CASE("regression metrics match scikit-learn and scipy for [N] and [N, 1]",
          "[train][metrics]") {
  for (const json& c : fixture()["regression"]) {
    INFO(c["name"].get<std::string>());
    const Tensor y = vector_tensor(c["y_true"]), mean = vector_tensor(c["y_pred"]),
                 variance = vector_tensor(c["variance"]);
    const Tensor mean_column = mean.reshape({mean.numel(), 1});
    const json& expected = c["expected"];
    for (const Tensor& prediction : {mean, mean_column}) {
      check_close(rmse(y, prediction), expected["rmse"]);
      check_close(mae(y, prediction), expected["mae"]);
      check_close(r2_score(y, prediction), expected["r2"]);
      check_close(gaussian_nll(y, prediction, variance), expected["gaussian_nll"]);
      check_close(interval_coverage_95(y, prediction, variance), expected["coverage_95"]);
    }
  }
}

// -- invalid inputs --------------------------------------------------------------------------

TEST_CASE("label metrics reject bad labels, lengths and class counts", "[train][metrics]") {
  const Tensor y = tensor({0.f, 1.f, 2.f});
  CHECK_THAT(error_of([&] {
               accuracy(y, tensor({0.f, 1.f}));
             }),
             Contains("accuracy") && Contains("different lengths (3 != 2)"));
  CHECK_THAT(error_of([&] { accuracy(zeros({0}), zeros({0})); }),
             Contains("accuracy") && Contains("empty"));
  CHECK_THAT(error_of([&] { accuracy(Tensor(), y); }),
             Contains("accuracy") && Contains("y_true is undefined"));
  CHECK_THAT(error_of([&] {
               accuracy(y, tensor({0.f, 1.5f, 2.f}));
             }),
             Contains("accuracy") && Contains("y_pred[1] = 1.5 is not a class index"));
  CHECK_THAT(error_of([&] {
               accuracy(tensor({0.f, -1.f, 2.f}), y);
             }),
             Contains("accuracy") && Contains("y_true[1] = -1 is out of range"));
  CHECK_THAT(error_of([&] {
               accuracy(y, tensor({0.f, 1.f, 1e30f}));
             }),
             Contains("accuracy") && Contains("y_pred[2] = 1e+30 is out of range") &&
                 Contains("[0, 2^24)"));
  CHECK_THAT(error_of([&] {
               accuracy(y.reshape({3, 1}), y);
             }),
             Contains("accuracy") && Contains("shape [N], got [3, 1]"));
  CHECK_THAT(error_of([&] {
               confusion_matrix(y, tensor({0.f, 3.f, 2.f}), 3);
             }),
             Contains("confusion_matrix") &&
                 Contains("y_pred[1] = 3 is out of range for 3 classes (expected 0 to 2)"));
  CHECK_THAT(error_of([&] { confusion_matrix(y, y, 0); }),
             Contains("confusion_matrix") && Contains("num_classes must be at least 1, got 0"));
  CHECK_THAT(error_of([&] { precision(y, y, 2); }),
             Contains("precision") && Contains("y_true[2] = 2 is out of range for 2 classes"));
  CHECK_THAT(error_of([&] {
               recall(y, tensor({0.f, 1.f}), 3, Average::Micro);
             }),
             Contains("recall") && Contains("different lengths (3 != 2)"));
  CHECK_THAT(error_of([&] {
               f1_score(y, tensor({0.f, NAN, 1.f}), 3);
             }),
             Contains("f1_score") && Contains("y_pred[1] = nan is not a class index"));
  CHECK_THAT(error_of([&] { precision_recall_f1(y, y, -2); }),
             Contains("precision_recall_f1") && Contains("num_classes must be at least 1"));
}

TEST_CASE("probability metrics reject bad shapes, probabilities and labels", "[train][metrics]") {
  const Tensor y = tensor({0.f, 2.f});
  const Tensor p = tensor({0.2f, 0.3f, 0.5f, 0.1f, 0.1f, 0.8f}, {2, 3});
  CHECK_THAT(error_of([&] {
               log_loss(y, p.reshape({2, 3, 1}));
             }),
             Contains("log_loss") && Contains("[N] (binary) or [N, C]") && Contains("[2, 3, 1]"));
  CHECK_THAT(error_of([&] {
               log_loss(tensor({0.f, 1.f}), tensor({0.3f, 0.6f}, {2, 1}));
             }),
             Contains("log_loss") && Contains("C >= 2 classes, got [2, 1]"));
  CHECK_THAT(error_of([&] {
               log_loss(y, tensor({0.4f, 0.6f, 0.5f, 0.5f}, {2, 2}));
             }),
             Contains("log_loss") && Contains("y_true[1] = 2 is out of range for 2 classes"));
  CHECK_THAT(error_of([&] {
               log_loss(tensor({0.f, 2.f, 1.f}), p);
             }),
             Contains("log_loss") && Contains("y_true and probabilities have different lengths"));
  CHECK_THAT(error_of([&] {
               log_loss(y, zeros({0, 3}));
             }),
             Contains("log_loss") && Contains("empty (shape [0, 3])"));
  CHECK_THAT(error_of([&] {
               brier_score(y, tensor({0.2f, 1.3f, -0.5f, 0.1f, 0.1f, 0.8f}, {2, 3}));
             }),
             Contains("brier_score") && Contains("probabilities[0, 1] = 1.3 is outside [0, 1]"));
  CHECK_THAT(error_of([&] { brier_score(tensor({1.f}), tensor({NAN})); }),
             Contains("brier_score") && Contains("probabilities[0] = nan is outside [0, 1]"));
  CHECK_THAT(error_of([&] {
               brier_score(y, tensor({0.2f, 0.3f, 0.4f, 0.1f, 0.1f, 0.8f}, {2, 3}));
             }),
             Contains("brier_score") && Contains("row 0 sum to 0.9") && Contains("not 1"));
  CHECK_THAT(error_of([&] {
               brier_score(tensor({0.f, 2.f}), tensor({0.3f, 0.6f}));
             }),
             Contains("brier_score") && Contains("y_true[1] = 2 is out of range for 2 classes"));
  CHECK_THAT(error_of([&] { calibration(y, p, 0); }),
             Contains("calibration") && Contains("num_bins must be at least 1, got 0"));
  CHECK_THAT(error_of([&] {
               calibration(tensor({0.f, 0.5f}), p);
             }),
             Contains("calibration") && Contains("y_true[1] = 0.5 is not a class index"));
  CHECK_THAT(error_of([&] { expected_calibration_error(y, Tensor()); }),
             Contains("calibration") && Contains("probabilities is undefined"));
}

TEST_CASE("roc_auc rejects one class, non-binary labels and bad scores", "[train][metrics]") {
  CHECK_THAT(error_of([&] {
               roc_auc(tensor({1.f, 1.f}), tensor({0.2f, 0.7f}));
             }),
             Contains("roc_auc") && Contains("only class 1") && Contains("both classes"));
  CHECK_THAT(error_of([&] {
               roc_auc(tensor({0.f, 2.f}), tensor({0.2f, 0.7f}));
             }),
             Contains("roc_auc") && Contains("y_true[1] = 2 is out of range for 2 classes"));
  CHECK_THAT(error_of([&] {
               roc_auc(tensor({0.f, 1.f}), tensor({0.2f, INFINITY}));
             }),
             Contains("roc_auc") && Contains("scores[1] = inf is not finite"));
  CHECK_THAT(error_of([&] {
               roc_auc(tensor({0.f, 1.f, 1.f}), tensor({0.2f, 0.7f}));
             }),
             Contains("roc_auc") && Contains("different lengths (3 != 2)"));
  CHECK_THAT(error_of([&] {
               roc_auc(tensor({0.f, 1.f}), tensor({0.2f, 0.7f}, {1, 2}));
             }),
             Contains("roc_auc") && Contains("scores must have shape [N], got [1, 2]"));
}

TEST_CASE("regression metrics reject bad shapes, lengths, values and variances",
          "[train][metrics]") {
  const Tensor y = tensor({1.f, 2.f, 3.f}), ones3 = ones({3});
  CHECK_THAT(error_of([&] {
               rmse(y, ones({3, 2}));
             }),
             Contains("rmse") && Contains("y_pred must have shape [N] or [N, 1], got [3, 2]"));
  CHECK_THAT(error_of([&] {
               mae(y, ones({2, 1}));
             }),
             Contains("mae") && Contains("y_true and y_pred have different lengths (3 != 2)"));
  CHECK_THAT(error_of([&] { mae(zeros({0}), zeros({0})); }), Contains("mae") && Contains("empty"));
  CHECK_THAT(error_of([&] {
               rmse(y, tensor({1.f, NAN, 3.f}));
             }),
             Contains("rmse") && Contains("y_pred[1] = nan is not finite"));
  CHECK_THAT(error_of([&] { r2_score(tensor({1.f}), tensor({1.f})); }),
             Contains("r2_score") && Contains("at least 2 samples") && Contains("got 1"));
  CHECK_THAT(error_of([&] {
               gaussian_nll(y, y, tensor({1.f, 0.f, 1.f}));
             }),
             Contains("gaussian_nll") && Contains("variance[1] = 0.0 is not positive"));
  CHECK_THAT(error_of([&] {
               gaussian_nll(y, y, tensor({1.f, 1.f, -2.f}));
             }),
             Contains("gaussian_nll") && Contains("variance[2] = -2.0 is not positive"));
  CHECK_THAT(error_of([&] { gaussian_nll(y, ones({2}), ones3); }),
             Contains("gaussian_nll") && Contains("y_true and mean have different lengths"));
  CHECK_THAT(error_of([&] { interval_coverage_95(y, y, ones({4})); }),
             Contains("interval_coverage_95") &&
                 Contains("y_true and variance have different lengths (3 != 4)"));
  CHECK_THAT(error_of([&] {
               interval_coverage_95(y, y, tensor({1.f, INFINITY, 1.f}));
             }),
             Contains("interval_coverage_95") && Contains("variance[1] = inf is not finite"));
}
