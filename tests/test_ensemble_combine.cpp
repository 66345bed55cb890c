// Ensemble combining rules, uncertainty measures and temperature scaling
// (models/ensemble/combine.h, calibration.h): hand-worked values, known answers, and
// PyTorch references (ensemble_combine.json, from tests/reference/generate_ensemble_combine.py).

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include <ember/ember.h>

using namespace ember;
using nlohmann::json;

namespace {

const double kLog2 = std::log(2.0);

// Every entry of `actual` within `tolerance` of `expected` (row-major), and the shape.
void check_values(const Tensor& actual, const Shape& shape, const std::vector<double>& expected,
                  double tolerance) {
  REQUIRE(actual.shape() == shape);
  const std::vector<float> values = actual.to_vector();
  REQUIRE(values.size() == expected.size());
  for (size_t i = 0; i < values.size(); ++i) {
    INFO("entry " << i << ": got " << values[i] << ", expected " << expected[i]);
    CHECK(std::fabs(values[i] - expected[i]) <= tolerance);
  }
}

// Logits whose softmax is exactly `probabilities` (up to float rounding): their logs.
Tensor logits_of(const std::vector<float>& probabilities, const Shape& shape) {
  return log(tensor(probabilities, shape));
}

// Member k votes for class votes[k][b]: logit 5 there, 0 elsewhere. -> [K, B, C]
Tensor voting_logits(const std::vector<std::vector<int>>& votes, int64_t classes) {
  const auto K = static_cast<int64_t>(votes.size()), B = static_cast<int64_t>(votes[0].size());
  std::vector<float> values(static_cast<size_t>(K * B * classes), 0.f);
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t b = 0; b < B; ++b) {
      values[static_cast<size_t>((k * B + b) * classes + votes[k][b])] = 5.f;
    }
  }
  return tensor(values, {K, B, classes});
}

double entropy(const std::vector<double>& p) {
  double h = 0;
  for (const double value : p) h -= value > 0 ? value * std::log(value) : 0;
  return h;
}

const json& fixture() {
  static const json loaded = [] {
    std::ifstream file(std::string(EMBER_REFERENCE_DIR) + "/ensemble_combine.json");
    if (!file) throw std::runtime_error("cannot open tests/reference/ensemble_combine.json");
    return json::parse(file);
  }();
  return loaded;
}

// A nested JSON list of numbers as a tensor of the given shape.
Tensor from_json(const json& nested, const Shape& shape) {
  std::vector<float> flat;
  const std::function<void(const json&)> walk = [&](const json& node) {
    if (node.is_array()) {
      for (const json& child : node) walk(child);
    } else {
      flat.push_back(node.get<float>());
    }
  };
  walk(nested);
  return tensor(flat, shape);
}

std::vector<double> flat_doubles(const json& nested) {
  std::vector<double> flat;
  const std::function<void(const json&)> walk = [&](const json& node) {
    if (node.is_array()) {
      for (const json& child : node) walk(child);
    } else {
      flat.push_back(node.get<double>());
    }
  };
  walk(nested);
  return flat;
}

// Labels drawn from softmax(z) row by row (inverse CDF of uniform draws), so z is calibrated.
Tensor labels_drawn_from(const Tensor& z) {
  const Tensor p = softmax(z, 1), u = rand({z.size(0)});
  const int64_t C = z.size(1);
  std::vector<float> labels;
  for (int64_t i = 0; i < z.size(0); ++i) {
    double cumulative = 0;
    int64_t label = C - 1;
    for (int64_t c = 0; c < C; ++c) {
      cumulative += p.data()[i * C + c];
      if (u.data()[i] < cumulative) {
        label = c;
        break;
      }
    }
    labels.push_back(static_cast<float>(label));
  }
  return tensor(labels, {z.size(0)});
}

Tensor argmax_rows(const Tensor& logits) { return max(logits, 1).indices; }

}  // namespace

// -- combining rules -------------------------------------------------------------------------

TEST_CASE("average is the mean over members") {
  // members [1, 4], [2, 6], [6, 2] as [K, B, 1]
  const Tensor outputs = tensor({1, 4, 2, 6, 6, 2}, {3, 2, 1});
  check_values(models::average(outputs), {2, 1}, {3, 4}, 1e-6);
}

TEST_CASE("weighted_average weighs each member") {
  const Tensor outputs = tensor({1, 4, 2, 6, 6, 2}, {3, 2, 1});
  // 0.5·1 + 0.25·2 + 0.25·6 = 2.5; 0.5·4 + 0.25·6 + 0.25·2 = 4
  check_values(models::weighted_average(outputs, tensor({0.5f, 0.25f, 0.25f})), {2, 1}, {2.5, 4},
               1e-6);
  // weight 1 on one member picks it
  check_values(models::weighted_average(outputs, tensor({0.f, 0.f, 1.f})), {2, 1}, {6, 2}, 0);
}

TEST_CASE("weighted_average refuses weights of the wrong size, negative or not summing to 1") {
  const Tensor outputs = tensor({1, 4, 2, 6, 6, 2}, {3, 2, 1});
  CHECK_THROWS_WITH(models::weighted_average(outputs, tensor({0.5f, 0.5f})),
                    "weighted_average: weights must be [K] = [3] for outputs [3, 2, 1], got [2]");
  CHECK_THROWS_WITH(models::weighted_average(outputs, tensor({-0.5f, 1.f, 0.5f})),
                    Catch::StartsWith("weighted_average: weights must be non-negative, got -0.5"));
  CHECK_THROWS_WITH(models::weighted_average(outputs, tensor({0.5f, 0.5f, 0.5f})),
                    Catch::StartsWith("weighted_average: weights must sum to 1, got a sum of 1.5"));
  CHECK_THROWS_WITH(models::weighted_average(outputs, Tensor()),
                    Catch::StartsWith("weighted_average: weights must be [K] = [3]"));
}

TEST_CASE("soft voting averages the members' softmax probabilities") {
  // member 0: [0.5, 0.25, 0.25], member 1: [0.1, 0.6, 0.3] -> [0.3, 0.425, 0.275]
  const Tensor logits = logits_of({0.5f, 0.25f, 0.25f, 0.1f, 0.6f, 0.3f}, {2, 1, 3});
  check_values(models::soft_vote(logits), {1, 3}, {0.3, 0.425, 0.275}, 1e-6);
  check_values(models::member_probabilities(logits), {2, 1, 3}, {0.5, 0.25, 0.25, 0.1, 0.6, 0.3},
               1e-6);
  // weights [0.75, 0.25]: [0.4, 0.3375, 0.2625]
  check_values(models::weighted_soft_vote(logits, tensor({0.75f, 0.25f})), {1, 3},
               {0.4, 0.3375, 0.2625}, 1e-6);
}

TEST_CASE("soft voting of binary logits averages the sigmoids") {
  // σ(0) = 0.5, σ(log 3) = 0.75, σ(-log 3) = 0.25
  const float l3 = std::log(3.f);
  const Tensor logits = tensor({0.f, l3, l3, -l3}, {2, 2, 1});
  check_values(models::soft_vote(logits), {2, 1}, {0.625, 0.5}, 1e-6);
  check_values(models::soft_vote(reshape(logits, {2, 2})), {2}, {0.625, 0.5}, 1e-6);
}

TEST_CASE("soft_vote_logits is the log of the soft vote, finite where a probability underflows") {
  // the members of the soft-voting test: log [0.3, 0.425, 0.275]
  const Tensor logits = logits_of({0.5f, 0.25f, 0.25f, 0.1f, 0.6f, 0.3f}, {2, 1, 3});
  check_values(models::soft_vote_logits(logits), {1, 3},
               {std::log(0.3), std::log(0.425), std::log(0.275)}, 1e-6);
  // binary: p̄ = [0.625, 0.5] -> log-odds [log(0.625 / 0.375), 0] = [log(5/3), 0]
  const float l3 = std::log(3.f);
  const Tensor binary = tensor({0.f, l3, l3, -l3}, {2, 2, 1});
  check_values(models::soft_vote_logits(binary), {2, 1}, {std::log(5.0 / 3.0), 0.0}, 1e-6);
  check_values(models::soft_vote_logits(reshape(binary, {2, 2})), {2}, {std::log(5.0 / 3.0), 0.0},
               1e-6);
  // e^-200 is 0 in float, so log(soft_vote) would be -inf; in log space it is -200 (one
  // member: log_softmax([0, -200]) = [-log(1 + e^-200), -200]).
  CHECK(models::soft_vote(tensor({0.f, -200.f}, {1, 1, 2})).to_vector()[1] == 0.f);
  check_values(models::soft_vote_logits(tensor({0.f, -200.f}, {1, 1, 2})), {1, 2}, {0.0, -200.0},
               1e-6);
  // two confident members that disagree: p̄ = [0.5, 0.5]
  check_values(models::soft_vote_logits(tensor({0.f, -200.f, -200.f, 0.f}, {2, 1, 2})), {1, 2},
               {std::log(0.5), std::log(0.5)}, 1e-6);
  CHECK_THROWS_WITH(models::soft_vote_logits(zeros({2, 3, 4, 5})),
                    Catch::StartsWith("soft_vote_logits: expects logits [K, B, C]"));
}

TEST_CASE("hard voting takes the majority, ties to the lowest class") {
  // sample 0: votes 2, 2, 0 -> 2; sample 1: 1, 2, 0 (three-way tie) -> 0; sample 2: 2, 1, 1 -> 1
  const Tensor logits = voting_logits({{2, 1, 2}, {2, 2, 1}, {0, 0, 1}}, 3);
  check_values(models::hard_vote(logits), {3}, {2, 0, 1}, 0);
  // two members, one vote each for classes 2 and 1: the tie goes to 1
  check_values(models::hard_vote(voting_logits({{2}, {1}}, 3)), {1}, {1}, 0);
  // a member whose largest logits tie votes for the first of them: [1, 1, 0] votes 0
  check_values(models::hard_vote(tensor({1, 1, 0}, {1, 1, 3})), {1}, {0}, 0);
}

TEST_CASE("hard voting of binary logits counts z > 0 as class 1, z = 0 as class 0") {
  // sample 0: z = 0.3, -1, 2 -> votes 1, 0, 1 -> 1; sample 1: z = 0, -1, 1 -> 0, 0, 1 -> 0
  const Tensor logits = tensor({0.3f, 0.f, -1.f, -1.f, 2.f, 1.f}, {3, 2, 1});
  check_values(models::hard_vote(logits), {2}, {1, 0}, 0);
  // two members split 1 : 1 -> class 0
  check_values(models::hard_vote(tensor({1.f, -1.f}, {2, 1})), {1}, {0}, 0);
}

TEST_CASE("combining rules refuse a stack without members or of the wrong rank") {
  CHECK_THROWS_WITH(models::average(zeros({0, 2})),
                    "average: needs at least one member (K >= 1), got shape [0, 2]");
  CHECK_THROWS_WITH(models::average(zeros({3})),
                    "average: expects member outputs stacked as [K, B, ...], got shape [3]");
  CHECK_THROWS_WITH(models::soft_vote(zeros({2, 3, 4, 5})),
                    "soft_vote: expects logits [K, B, C], [K, B, 1] or [K, B], got shape "
                    "[2, 3, 4, 5]");
  CHECK_THROWS_WITH(models::hard_vote(zeros({0, 3, 2})),
                    "hard_vote: needs at least one member (K >= 1), got shape [0, 3, 2]");
  CHECK_THROWS_WITH(models::predictive_entropy(Tensor()),
                    "predictive_entropy: got an undefined tensor");
}

// -- spread ----------------------------------------------------------------------------------

TEST_CASE("member variance: population by default, unbiased on request") {
  // [1, 2, 3, 6]: mean 3, squared deviations 4 + 1 + 0 + 9 = 14 -> 14/4 and 14/3
  const Tensor outputs = tensor({1, 2, 3, 6}, {4, 1});
  check_values(models::member_variance(outputs), {1}, {3.5}, 1e-6);
  check_values(models::member_variance(outputs, /*unbiased=*/true), {1}, {14.0 / 3}, 1e-6);
  check_values(models::member_variance(tensor({7}, {1, 1})), {1}, {0}, 0);
  CHECK_THROWS_WITH(models::member_variance(tensor({7}, {1, 1}), true),
                    "member_variance: the unbiased variance needs K >= 2 members, got 1");
}

TEST_CASE("the deep-ensemble mixture has mean mean(μ) and variance mean(σ² + μ²) - μ*²") {
  // sample 0: μ = [1, 3], σ² = [1, 2]: μ* = 2, σ*² = (1 + 1 + 2 + 9) / 2 - 4 = 2.5
  // sample 1: μ = [0, 0], σ² = [1, 3]: μ* = 0, σ*² = 2
  const Tensor means = tensor({1, 0, 3, 0}, {2, 2}), variances = tensor({1, 1, 2, 3}, {2, 2});
  const models::MeanVariance mixture = models::gaussian_mixture(means, variances);
  check_values(mixture.mean, {2}, {2, 0}, 1e-6);
  check_values(mixture.variance, {2}, {2.5, 2}, 1e-6);
  CHECK_THROWS_WITH(models::gaussian_mixture(means, tensor({1, 1}, {1, 2})),
                    "gaussian_mixture: means [2, 2] and variances [1, 2] must have the same shape");
  CHECK_THROWS_WITH(models::gaussian_mixture(means, tensor({1, 1, -2, 3}, {2, 2})),
                    Catch::StartsWith("gaussian_mixture: variances must be non-negative, got -2"));
}

TEST_CASE("two members certain of different classes: predictive entropy log 2, MI log 2") {
  const Tensor logits = tensor({100, -100, -100, 100}, {2, 1, 2});
  check_values(models::predictive_entropy(logits), {1}, {kLog2}, 1e-6);
  check_values(models::expected_entropy(logits), {1}, {0}, 1e-6);
  check_values(models::mutual_information(logits), {1}, {kLog2}, 1e-6);
  // the same as binary logits ±100
  const Tensor binary = tensor({100, -100}, {2, 1, 1});
  check_values(models::predictive_entropy(binary), {1}, {kLog2}, 1e-6);
  check_values(models::expected_entropy(binary), {1}, {0}, 1e-6);
  check_values(models::mutual_information(binary), {1}, {kLog2}, 1e-6);
}

TEST_CASE("identical members have no mutual information") {
  const Tensor logits = tensor({1.f, 2.f, 0.5f, 1.f, 2.f, 0.5f, 1.f, 2.f, 0.5f}, {3, 1, 3});
  const double z[3] = {1, 2, 0.5};
  const double total = std::exp(z[0]) + std::exp(z[1]) + std::exp(z[2]);
  const double h =
      entropy({std::exp(z[0]) / total, std::exp(z[1]) / total, std::exp(z[2]) / total});
  check_values(models::predictive_entropy(logits), {1}, {h}, 1e-6);
  check_values(models::expected_entropy(logits), {1}, {h}, 1e-6);
  check_values(models::mutual_information(logits), {1}, {0}, 1e-6);
  // binary: two unsure members (z = 0): both entropies log 2, MI 0
  check_values(models::mutual_information(zeros({2, 1})), {1}, {0}, 1e-6);
  check_values(models::expected_entropy(zeros({2, 1})), {1}, {kLog2}, 1e-6);
}

TEST_CASE("a uniform and a certain member: entropies of [5/8, 1/8, 1/8, 1/8] and of each") {
  const Tensor logits = tensor({0, 0, 0, 0, 100, -100, -100, -100}, {2, 1, 4});
  const double predictive = entropy({5.0 / 8, 1.0 / 8, 1.0 / 8, 1.0 / 8});
  const double expected = (std::log(4.0) + 0) / 2;
  check_values(models::predictive_entropy(logits), {1}, {predictive}, 1e-6);
  check_values(models::expected_entropy(logits), {1}, {expected}, 1e-6);
  check_values(models::mutual_information(logits), {1}, {predictive - expected}, 1e-6);
}

TEST_CASE("soft vote, its logits and entropies match PyTorch on random logits") {
  const json& c = fixture()["classification"];
  const Tensor logits = from_json(c["logits"], {4, 6, 3});
  const json& expected = c["expected"];
  check_values(models::soft_vote(logits), {6, 3}, flat_doubles(expected["soft_vote"]), 1e-6);
  check_values(models::soft_vote_logits(logits), {6, 3}, flat_doubles(expected["soft_vote_logits"]),
               2e-6);
  check_values(models::predictive_entropy(logits), {6},
               flat_doubles(expected["predictive_entropy"]), 2e-6);
  check_values(models::expected_entropy(logits), {6}, flat_doubles(expected["expected_entropy"]),
               2e-6);
  check_values(models::mutual_information(logits), {6},
               flat_doubles(expected["mutual_information"]), 2e-6);
}

TEST_CASE("average, variance and mixture match PyTorch on random members") {
  const json& c = fixture()["regression"];
  const json& expected = c["expected"];
  const Tensor outputs = from_json(c["outputs"], {5, 7});
  check_values(models::average(outputs), {7}, flat_doubles(expected["average"]), 1e-6);
  check_values(models::member_variance(outputs), {7}, flat_doubles(expected["variance_population"]),
               2e-6);
  check_values(models::member_variance(outputs, true), {7},
               flat_doubles(expected["variance_unbiased"]), 2e-6);
  const models::MeanVariance mixture =
      models::gaussian_mixture(from_json(c["means"], {5, 7}), from_json(c["variances"], {5, 7}));
  check_values(mixture.mean, {7}, flat_doubles(expected["mixture_mean"]), 1e-6);
  check_values(mixture.variance, {7}, flat_doubles(expected["mixture_variance"]), 2e-6);
}

TEST_CASE("disagreement is the fraction of members outvoted by the hard vote") {
  // votes per sample: (2, 2, 0) -> 1/3; (1, 2, 0) -> 2/3; (2, 1, 1) -> 1/3
  const Tensor logits = voting_logits({{2, 1, 2}, {2, 2, 1}, {0, 0, 1}}, 3);
  check_values(models::disagreement(logits), {3}, {1.0 / 3, 2.0 / 3, 1.0 / 3}, 1e-6);
  // five members (0, 0, 1, 2, 0): 1 - 3/5
  check_values(models::disagreement(voting_logits({{0}, {0}, {1}, {2}, {0}}, 3)), {1}, {0.4}, 1e-6);
  // unanimous
  check_values(models::disagreement(voting_logits({{1}, {1}}, 3)), {1}, {0}, 0);
}

TEST_CASE("pairwise disagreement counts the samples two members vote differently on") {
  // member votes: m0 = (2, 1, 2), m1 = (2, 2, 1), m2 = (0, 0, 1)
  // d01 = 2/3, d02 = 3/3, d12 = 2/3
  const Tensor logits = voting_logits({{2, 1, 2}, {2, 2, 1}, {0, 0, 1}}, 3);
  const double t = 2.0 / 3;
  check_values(models::pairwise_disagreement(logits), {3, 3}, {0, t, 1, t, 0, t, 1, t, 0}, 1e-6);
  CHECK_THROWS_WITH(models::pairwise_disagreement(zeros({2, 0, 3})),
                    "pairwise_disagreement: needs at least one sample (B >= 1)");
}

TEST_CASE("soft vote, its logits, entropies and the mixture pass gradients back to every member") {
  manual_seed(3);
  const Tensor logits = randn({3, 2, 4}, /*requires_grad=*/true);
  for (auto rule : {models::soft_vote, models::soft_vote_logits, models::predictive_entropy,
                    models::expected_entropy, models::mutual_information}) {
    const GradcheckReport report =
        gradcheck([&](const std::vector<Tensor>& in) { return rule(in[0]); }, {logits});
    INFO(report.summary());
    CHECK(report.passed);
  }
  // weights as softmax(θ), as fusion training would learn them (a raw perturbed weight would
  // leave the simplex)
  const Tensor theta = tensor({0.2f, -0.3f, 0.5f}, true);
  const GradcheckReport weighted = gradcheck(
      [](const std::vector<Tensor>& in) {
        return models::weighted_soft_vote(in[0], softmax(in[1], 0));
      },
      {logits, theta});
  INFO(weighted.summary());
  CHECK(weighted.passed);
  const Tensor means = randn({3, 5}, true), variances = (rand({3, 5}) + 0.5f).requires_grad_();
  const GradcheckReport mixture = gradcheck(
      [](const std::vector<Tensor>& in) { return models::gaussian_mixture(in[0], in[1]).variance; },
      {means, variances});
  INFO(mixture.summary());
  CHECK(mixture.passed);
}

// -- fitted weights --------------------------------------------------------------------------

TEST_CASE("fit_weights gives nearly all weight to the one exact regressor") {
  manual_seed(7);
  const Tensor y = randn({200, 1});
  const Tensor outputs = stack({y + randn({200, 1}), clone(y), y + 0.5f * randn({200, 1})}, 0);
  const Tensor w = models::fit_weights(outputs, reshape(y, {200}), models::TaskType::regression);
  REQUIRE(w.shape() == Shape{3});
  CHECK(w.to_vector()[1] > 0.99f);
  CHECK(w.sum().item() == Approx(1).margin(1e-6));
}

TEST_CASE("fit_weights finds the MSE-optimal mix of two noisy regressors") {
  // Members y + e1 and y + e2: MSE(w) = |w e1 + (1 - w) e2|², minimised at
  // w* = e2·(e2 - e1) / |e1 - e2|².
  manual_seed(11);
  const Tensor y = randn({100}), e1 = randn({100}), e2 = 0.7f * randn({100});
  double e2_diff = 0, diff2 = 0;
  for (int64_t i = 0; i < 100; ++i) {
    const double a = e1.data()[i], b = e2.data()[i];
    e2_diff += b * (b - a);
    diff2 += (a - b) * (a - b);
  }
  const Tensor w = models::fit_weights(stack({y + e1, y + e2}, 0), y, models::TaskType::regression);
  CHECK(w.to_vector()[0] == Approx(e2_diff / diff2).margin(1e-4));
}

TEST_CASE("fit_weights gives nearly all weight to the one accurate classifier") {
  manual_seed(5);
  const int64_t B = 300, C = 3;
  const Tensor labels = max(rand({B, C}), 1).indices;
  std::vector<float> one_hot(static_cast<size_t>(B * C), 0.f);
  for (int64_t b = 0; b < B; ++b) one_hot[static_cast<size_t>(b * C + labels.data()[b])] = 1.f;
  const Tensor accurate = 4.f * tensor(one_hot, {B, C});
  const Tensor logits = stack({randn({B, C}), accurate, 2.f * randn({B, C})}, 0);
  const Tensor w = models::fit_weights(logits, labels, models::TaskType::multiclass);
  CHECK(w.to_vector()[1] > 0.99f);
  // binary: the accurate member's logit is +4 for class 1, -4 for class 0
  const Tensor binary_labels = (labels > 0.5f);
  const Tensor binary = stack({randn({B, 1}), reshape(8.f * binary_labels - 4.f, {B, 1})}, 0);
  CHECK(models::fit_weights(binary, binary_labels, models::TaskType::binary).to_vector()[1] >
        0.99f);
}

TEST_CASE("fit_weights refuses targets that do not fit and bad options") {
  const Tensor outputs = zeros({2, 4, 1});
  CHECK_THROWS_WITH(models::fit_weights(outputs, zeros({3}), models::TaskType::regression),
                    "fit_weights: targets [3] do not fit one member's output [4, 1]");
  CHECK_THROWS_WITH(
      models::fit_weights(zeros({2, 4, 3}), zeros({4, 1}), models::TaskType::multiclass),
      "fit_weights: labels must be [B] = [4], got [4, 1]");
  CHECK_THROWS(models::fit_weights(zeros({2, 4, 3}), full({4}, 3.f), models::TaskType::multiclass));
  CHECK_THROWS_WITH(
      models::fit_weights(outputs, zeros({4}), models::TaskType::regression, {.steps = 0}),
      "fit_weights: needs steps >= 1 and lr > 0, got steps 0 and lr 0.100000");
  CHECK_THROWS_WITH(models::fit_weights(zeros({0, 4}), zeros({4}), models::TaskType::regression),
                    "fit_weights: needs at least one member (K >= 1), got shape [0, 4]");
}

// -- temperature scaling ---------------------------------------------------------------------

TEST_CASE("temperature scaling undoes logits made 5 times overconfident") {
  manual_seed(2024);
  const Tensor z = 1.5f * randn({20000, 4});  // calibrated: labels are drawn from softmax(z)
  const Tensor labels = labels_drawn_from(z);
  const Tensor logits = 5.f * z;
  const double T = models::fit_temperature(logits, labels);
  // Over 200 draws the fitted T had a standard deviation of 0.9% around 5 (worst 3.5%): 5% is
  // 5.5 of them.
  CHECK(T == Approx(5).epsilon(0.05));

  const Tensor scaled = logits / static_cast<float>(T);
  CHECK(nn::cross_entropy(scaled, labels).item() < nn::cross_entropy(logits, labels).item());
  CHECK(train::accuracy(labels, argmax_rows(scaled)) ==
        train::accuracy(labels, argmax_rows(logits)));
  CHECK(train::expected_calibration_error(labels, softmax(scaled, 1)) <
        train::expected_calibration_error(labels, softmax(logits, 1)) / 4);
}

TEST_CASE("temperature fits equal PyTorch's LBFGS fits") {
  for (const json& c : fixture()["temperature"]) {
    INFO(c["name"].get<std::string>());
    const std::vector<double> flat = flat_doubles(c["logits"]);
    const auto N = static_cast<int64_t>(c["labels"].size());
    const bool binary = !c["logits"][0].is_array();
    const Tensor logits = binary
                              ? from_json(c["logits"], {N})
                              : from_json(c["logits"], {N, static_cast<int64_t>(flat.size()) / N});
    const Tensor labels = from_json(c["labels"], {N});
    const json& expected = c["expected"];
    const double T = models::fit_temperature(logits, labels);
    CHECK(T == Approx(expected["temperature"].get<double>()).epsilon(1e-6));
    const Tensor scaled = logits / static_cast<float>(T);
    const double after = binary ? nn::binary_cross_entropy_with_logits(scaled, labels).item()
                                : nn::cross_entropy(scaled, labels).item();
    CHECK(after == Approx(expected["nll_after"].get<double>()).epsilon(1e-5));
  }
}

TEST_CASE("temperature stops at its bounds when the NLL keeps falling") {
  // every sample right with a margin: the NLL falls towards T -> 0
  const Tensor logits = tensor({2, 0, 0, 3}, {2, 2}), labels = tensor({0.f, 1.f});
  CHECK(models::fit_temperature(logits, labels) == 1e-2);
  CHECK(models::fit_temperature(logits, labels, {.min_temperature = 0.5}) == 0.5);
  // every sample wrong: the NLL falls towards T -> infinity
  CHECK(models::fit_temperature(logits, tensor({1.f, 0.f})) == 1e2);
}

TEST_CASE("TemperatureScaling divides logits by T and keeps T in its state dict") {
  manual_seed(9);
  const Tensor z = randn({500, 3});
  const Tensor labels = labels_drawn_from(z);
  models::TemperatureScaling scaling;
  CHECK(scaling.temperature() == 1);
  const double T = scaling.fit(3.f * z, labels);
  CHECK(scaling.temperature() == Approx(T).epsilon(1e-7));
  check_values(scaling(tensor({3, -6}, {1, 2})), {1, 2},
               {3 / static_cast<double>(static_cast<float>(T)),
                -6 / static_cast<double>(static_cast<float>(T))},
               1e-6);
  models::TemperatureScaling restored;
  restored.load_state_dict(scaling.state_dict());
  CHECK(restored.temperature() == scaling.temperature());
}

TEST_CASE("fit_temperature refuses empty data and inputs that do not fit") {
  CHECK_THROWS_WITH(models::fit_temperature(zeros({0, 3}), zeros({0})),
                    "fit_temperature: needs at least one sample, got logits [0, 3]");
  CHECK_THROWS_WITH(models::fit_temperature(zeros({4, 3}), zeros({3})),
                    "fit_temperature: labels must be [N] = [4], got [3]");
  CHECK_THROWS_WITH(models::fit_temperature(zeros({2, 3}), tensor({0.f, 3.f})),
                    Catch::StartsWith("fit_temperature: labels must be integers in [0, 3), got 3"));
  CHECK_THROWS_WITH(models::fit_temperature(zeros({2}), tensor({0.f, 0.5f})),
                    Catch::StartsWith("fit_temperature: labels must be integers in [0, 2)"));
  CHECK_THROWS_WITH(models::fit_temperature(zeros({2, 3, 1}), zeros({2})),
                    "fit_temperature: expects logits [N, C] with C >= 2, [N, 1] or [N], got "
                    "[2, 3, 1]");
  CHECK_THROWS_WITH(models::fit_temperature(tensor({0.f, NAN}), zeros({2})),
                    Catch::StartsWith("fit_temperature: logits must be finite"));
  CHECK_THROWS_WITH(models::fit_temperature(zeros({2}), zeros({2}), {.min_temperature = 0}),
                    Catch::StartsWith("fit_temperature: needs 0 < min_temperature"));
}

// -- ensembles -------------------------------------------------------------------------------

TEST_CASE("the seed EnsembleModel hands out its members' outputs, whose mean is forward") {
  manual_seed(0);
  models::EnsembleModel model;
  const Tensor x = randn({6, 10});
  const std::vector<Tensor> members = model.member_outputs(x);
  REQUIRE(members.size() == 3);
  for (size_t k = 0; k < 3; ++k) {
    CHECK(members[k].shape() == Shape{6, 1});
    // each is its own member network's output
    const std::vector<float> own = model.models[k](x).to_vector(), got = members[k].to_vector();
    CHECK(own == got);
  }
  const std::vector<float> a = members[0].to_vector(), b = members[1].to_vector(),
                           c = members[2].to_vector(), forward = model.forward(x).to_vector();
  for (size_t i = 0; i < forward.size(); ++i) {
    CHECK(forward[i] == Approx((a[i] + b[i] + c[i]) / 3.0).margin(1e-6));
  }
}

TEST_CASE("combine averages regression outputs and soft-votes classification per task") {
  manual_seed(1);
  const std::vector<models::Task> tasks = {models::regression("y"), models::multiclass("c", 3),
                                           models::binary("b")};
  models::Ensemble ensemble(3, [&](int64_t) {
    return models::MultiTaskNet({.inputs = 4, .hidden = {5}, .tasks = tasks});
  });
  const Tensor x = randn({6, 4});
  const std::vector<Tensor> combined = models::combine(ensemble, x, tasks);
  REQUIRE(combined.size() == 3);
  // the same by hand from each member's raw outputs: mean of y, of softmax(c), of σ(b)
  std::vector<double> y(6, 0), c(18, 0), b(6, 0);
  for (int64_t k = 0; k < 3; ++k) {
    const std::vector<Tensor> outputs = ensemble.member_outputs(k, x);
    for (size_t i = 0; i < 6; ++i) {
      y[i] += outputs[0].data()[i] / 3.0;
      b[i] += 1 / (1 + std::exp(-static_cast<double>(outputs[2].data()[i]))) / 3.0;
      const float* z = outputs[1].data() + 3 * i;
      const double total = std::exp(z[0]) + std::exp(z[1]) + std::exp(z[2]);
      for (size_t j = 0; j < 3; ++j) c[3 * i + j] += std::exp(z[j]) / total / 3.0;
    }
  }
  check_values(combined[0], {6, 1}, y, 1e-6);
  check_values(combined[1], {6, 3}, c, 1e-6);
  check_values(combined[2], {6, 1}, b, 1e-6);
  CHECK_THROWS_WITH(models::combine(ensemble, x, {models::regression("y")}),
                    "combine: the ensemble gives 3 outputs for 1 tasks");
}
