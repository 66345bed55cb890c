// Ensemble training methods (train/ensemble.h): the bootstrap sampler against its known
// distinct fraction, the snapshot schedule against PyTorch 1.13's CosineAnnealingWarmRestarts
// (tests/reference/generate_snapshot_lr.py wrote snapshot_lr.json), boosting stage by stage,
// voting and bagging members against members trained alone, fusion, deep ensembles with
// their Gaussian task and mixture, MC dropout, and every invalid option's error.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <ember/ember.h>

#include "temp_dir.h"

using namespace ember;
using Catch::Contains;

namespace {

models::MultiTaskNetConfig net_config(std::vector<models::Task> tasks, float dropout = 0.f) {
  return {.inputs = 1,
          .hidden = {16},
          .activation = "tanh",
          .dropout = dropout,
          .tasks = std::move(tasks)};
}

// The largest |a − b| over two tensors of one shape.
float max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  float largest = 0.f;
  for (const float d : abs(a - b).to_vector()) largest = std::max(largest, d);
  return largest;
}

models::Ensemble make_ensemble(int64_t members, const models::MultiTaskNetConfig& config) {
  return models::Ensemble(members, [&](int64_t) { return models::MultiTaskNet(config); });
}

// x uniform in [-2, 2] [N, 1], y = x³/4 − x [N].
data::TensorDataset toy_data(int64_t n, uint64_t seed) {
  manual_seed(seed);
  const Tensor x = uniform({n, 1}, -2.f, 2.f);
  return data::TensorDataset({x, (0.25f * x * x * x - x).reshape({n})});
}

std::vector<float> flat_parameters(const nn::Module& module) {
  std::vector<float> values;
  for (const Tensor& parameter : module.parameters()) {
    const std::vector<float> part = parameter.to_vector();
    values.insert(values.end(), part.begin(), part.end());
  }
  return values;
}

nn::NamedTensors copy_state(const nn::Module& module) {
  nn::NamedTensors copy;
  for (const auto& [name, tensor] : module.state_dict()) copy.emplace_back(name, clone(tensor));
  return copy;
}

// Member k of a voting or bagging run, retrained alone: its initial weights, the same seed,
// the same rows, a fresh Adam at the same lr and the same Trainer options.
std::vector<float> trained_alone(const models::MultiTaskNetConfig& config,
                                 const nn::NamedTensors& initial, uint64_t seed,
                                 const data::TensorDataset& train,
                                 const train::TrainerOptions& options) {
  models::MultiTaskNet net(config);
  net.load_state_dict(initial);
  manual_seed(seed);
  optim::Adam adam(net.parameters(), {.lr = 1e-2});
  train::Trainer trainer(net, config.tasks, adam, options);
  trainer.fit(train);
  return flat_parameters(net);
}

}  // namespace

TEST_CASE("bootstrap_indices draws n rows with replacement, about 1 - 1/e of them distinct") {
  // The number of distinct rows D among n draws has E[D] = n (1 - (1 - 1/n)^n) and, for large
  // n, Var[D] ≈ n (e^-1 - 2 e^-2) ≈ 0.0972 n: the fraction's std is 0.00099 at n = 10^5.
  const int64_t n = 100000;
  const Tensor indices = train::bootstrap_indices(n, 7);
  REQUIRE(indices.shape() == Shape{n});
  std::vector<char> seen(static_cast<size_t>(n), 0);
  for (float index : indices.to_vector()) {
    REQUIRE(index >= 0.f);
    REQUIRE(index < static_cast<float>(n));
    REQUIRE(index == std::floor(index));
    seen[static_cast<size_t>(index)] = 1;
  }
  double distinct = 0;
  for (char s : seen) distinct += s;
  const double expected = 1.0 - std::pow(1.0 - 1.0 / n, static_cast<double>(n));
  const double sigma = std::sqrt((std::exp(-1.0) - 2.0 * std::exp(-2.0)) / n);
  CHECK(expected == Approx(1.0 - std::exp(-1.0)).margin(1e-5));
  CHECK(std::abs(distinct / n - expected) < 5 * sigma);

  CHECK(train::bootstrap_indices(50, 3).to_vector() == train::bootstrap_indices(50, 3).to_vector());
  CHECK(train::bootstrap_indices(50, 3).to_vector() != train::bootstrap_indices(50, 4).to_vector());
}

TEST_CASE("snapshot ensembles step PyTorch's CosineAnnealingWarmRestarts once per iteration") {
  std::ifstream file(std::string(EMBER_REFERENCE_DIR) + "/snapshot_lr.json");
  REQUIRE(file);
  const nlohmann::json fixture = nlohmann::json::parse(file);
  const std::vector<double> expected = fixture["lrs"].get<std::vector<double>>();

  const data::TensorDataset train = toy_data(fixture["samples"].get<int64_t>(), 1);
  const auto config = net_config({models::regression("y")});
  manual_seed(2);
  models::Ensemble ensemble = make_ensemble(fixture["members"].get<int64_t>(), config);
  const std::vector<float> initial_first = flat_parameters(ensemble.member(0));
  train::EnsembleOptions options{.method = train::EnsembleMethod::snapshot,
                                 .trainer = {.epochs = fixture["epochs"].get<int64_t>(),
                                             .batch_size = fixture["batch_size"].get<int64_t>()},
                                 .optimizer = train::sgd_factory(fixture["base_lr"].get<double>())};
  const train::EnsembleHistory history =
      train::fit_ensemble(ensemble, config.tasks, options, train);

  REQUIRE(history.learning_rates.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("iteration " << i + 1);
    CHECK(history.learning_rates[i] == Approx(expected[i]).epsilon(1e-6));
  }
  // One run per cycle; each snapshot is a copy of the network at its cycle's end.
  CHECK(history.runs.size() == 3);
  CHECK(flat_parameters(ensemble.member(0)) != initial_first);
  CHECK(flat_parameters(ensemble.member(0)) != flat_parameters(ensemble.member(1)));
  CHECK(flat_parameters(ensemble.member(1)) != flat_parameters(ensemble.member(2)));
}

TEST_CASE("gradient boosting: each stage lowers the training error of the shrunken sum") {
  const data::TensorDataset train = toy_data(64, 3);
  const auto config = net_config({models::regression("y")});
  manual_seed(4);
  models::Ensemble ensemble = make_ensemble(4, config);
  const train::EnsembleOptions options{.method = train::EnsembleMethod::gradient_boosting,
                                       .trainer = {.epochs = 60, .batch_size = 16},
                                       .optimizer = train::adam_factory(1e-2),
                                       .shrinkage = 0.5};
  const train::EnsembleHistory history =
      train::fit_ensemble(ensemble, config.tasks, options, train);

  // Before any member the prediction is 0, with error mean(y²).
  const Tensor& y = train.tensors()[1];
  const double start = mean(y * y).item();
  REQUIRE(history.stage_losses.size() == 4);
  INFO("mean(y^2) " << start << ", stages " << history.stage_losses[0] << " "
                    << history.stage_losses[1] << " " << history.stage_losses[2] << " "
                    << history.stage_losses[3]);
  CHECK(history.stage_losses[0] < start);
  for (size_t m = 1; m < 4; ++m) CHECK(history.stage_losses[m] < history.stage_losses[m - 1]);

  // The prediction is ν Σ f_m, whose error is the last stage's.
  const Tensor predicted = train::boosted_outputs(ensemble, train.tensors()[0], 0.5)[0];
  CHECK(mse_loss(predicted.reshape({-1}), y).item() ==
        Approx(history.stage_losses.back()).epsilon(1e-5));
}

TEST_CASE("voting and bagging members each equal a member trained alone with its seed") {
  const data::TensorDataset train = toy_data(48, 5);
  const auto config = net_config({models::regression("y")}, /*dropout=*/0.2f);
  for (const auto method : {train::EnsembleMethod::voting, train::EnsembleMethod::bagging}) {
    INFO(train::to_string(method));
    manual_seed(6);
    models::Ensemble ensemble = make_ensemble(3, config);
    std::vector<nn::NamedTensors> initial;
    for (int64_t k = 0; k < 3; ++k) initial.push_back(copy_state(ensemble.member(k)));
    const train::EnsembleOptions options{.method = method,
                                         .trainer = {.epochs = 3, .batch_size = 16},
                                         .optimizer = train::adam_factory(1e-2)};
    const train::EnsembleHistory history =
        train::fit_ensemble(ensemble, config.tasks, options, train);

    REQUIRE(history.seeds.size() == 3);
    CHECK(history.seeds[0] != history.seeds[1]);
    CHECK(history.seeds[1] != history.seeds[2]);
    CHECK(history.runs.size() == 3);
    for (int64_t k = 0; k < 3; ++k) {
      const uint64_t seed = history.seeds[static_cast<size_t>(k)];
      const data::TensorDataset rows =
          method == train::EnsembleMethod::bagging
              ? data::TensorDataset(
                    {index_select(train.tensors()[0], 0, train::bootstrap_indices(48, seed)),
                     index_select(train.tensors()[1], 0, train::bootstrap_indices(48, seed))})
              : train;
      CHECK(flat_parameters(ensemble.member(k)) ==
            trained_alone(config, initial[static_cast<size_t>(k)], seed, rows, options.trainer));
    }
  }
}

// Stops its trainer at the end of its `epochs`-th epoch, as Ctrl-C would.
class StopAfter : public train::Callback {
 public:
  StopAfter(train::Trainer& trainer, int64_t epochs) : trainer_(trainer), epochs_(epochs) {}
  void on_epoch_end(const train::EpochResult&) override {
    if (++seen_ == epochs_) trainer_.request_stop();
  }

 private:
  train::Trainer& trainer_;
  int64_t epochs_, seen_ = 0;
};

TEST_CASE("an ensemble stopped in one of its runs and resumed ends as the one never stopped") {
  const data::TensorDataset train = toy_data(40, 8), validation = toy_data(16, 9);
  const auto config = net_config({models::regression("y")}, /*dropout=*/0.2f);
  for (const auto method : {train::EnsembleMethod::voting, train::EnsembleMethod::snapshot,
                            train::EnsembleMethod::gradient_boosting}) {
    INFO(train::to_string(method));
    // Three runs of 4 epochs (snapshot: cycles of 4 of 12); `stop_in` is stopped after 2.
    const auto fit = [&](const std::string& checkpoints, const std::string& stop_in, bool resume) {
      manual_seed(10);
      models::Ensemble ensemble = make_ensemble(3, config);
      const bool snapshot = method == train::EnsembleMethod::snapshot;
      const train::EnsembleOptions options{
          .method = method,
          .trainer = {.epochs = snapshot ? 12 : 4,
                      .batch_size = 16,
                      .patience = 0,
                      .checkpoint_dir = checkpoints},
          .optimizer = train::adam_factory(1e-2),
          .prepare_run = [&](const std::string& run, train::Trainer& trainer) {
            if (resume && std::filesystem::exists(trainer.options().checkpoint_dir))
              trainer.resume();
            if (run == stop_in) trainer.add_callback(std::make_shared<StopAfter>(trainer, 2));
          }};
      const train::EnsembleHistory history =
          train::fit_ensemble(ensemble, config.tasks, options, train, &validation);
      return std::pair{flat_parameters(ensemble), history};
    };
    const std::string second = method == train::EnsembleMethod::snapshot ? "cycle_1" : "member_1";
    const TempDir whole, parts;
    const auto [uninterrupted, whole_history] = fit(whole.file("checkpoint"), "", false);
    const auto [stopped, stopped_history] = fit(parts.file("checkpoint"), second, false);
    // The stop ends the whole ensemble: the third run never starts.
    REQUIRE(stopped_history.runs.size() >= 2);
    CHECK(stopped_history.runs[1].interrupted);
    CHECK(stopped_history.runs[1].epochs.size() == 2);
    CHECK((stopped_history.runs.size() == 2 || stopped_history.runs[2].epochs.empty()));
    CHECK(!std::filesystem::exists(parts.file("checkpoint/member_2")));
    CHECK(!std::filesystem::exists(parts.file("checkpoint/cycle_2")));
    CHECK(stopped != uninterrupted);

    const auto [resumed, resumed_history] = fit(parts.file("checkpoint"), "", true);
    CHECK(resumed == uninterrupted);  // bit for bit
    // The resumed cycles replay their steps: the learning rates are those of the whole run.
    CHECK(resumed_history.learning_rates == whole_history.learning_rates);
  }
}

TEST_CASE("fusion trains the members' mean output as one model") {
  const data::TensorDataset train = toy_data(64, 7);
  const auto config = net_config({models::regression("y")});
  manual_seed(8);
  models::Ensemble ensemble = make_ensemble(3, config);
  std::vector<std::vector<float>> initial;
  for (int64_t k = 0; k < 3; ++k) initial.push_back(flat_parameters(ensemble.member(k)));
  const train::EnsembleOptions options{
      .method = train::EnsembleMethod::fusion,
      .trainer = {.epochs = 20, .batch_size = 16, .restore_best = false},
      .optimizer = train::adam_factory(1e-2)};
  const train::EnsembleHistory history =
      train::fit_ensemble(ensemble, config.tasks, options, train, &train);

  REQUIRE(history.runs.size() == 1);
  const auto& epochs = history.runs[0].epochs;
  CHECK(epochs.back().metrics.at("train/loss") < 0.5 * epochs.front().metrics.at("train/loss"));
  // The loss scored is that of the mean of the members' outputs.
  const Tensor stacked = ensemble.stacked_outputs(train.tensors()[0])[0];  // [3, N, 1]
  CHECK(mse_loss(mean(stacked, {0}).reshape({-1}), train.tensors()[1]).item() ==
        Approx(epochs.back().metrics.at("val/loss")).epsilon(1e-5));
  // The one loss's gradient reached every member.
  for (int64_t k = 0; k < 3; ++k)
    CHECK(flat_parameters(ensemble.member(k)) != initial[static_cast<size_t>(k)]);
}

TEST_CASE("a gaussian task reads [B, 2] as a mean and softplus(v) + 1e-6, under Gaussian NLL") {
  const models::Task task = models::gaussian("y");
  CHECK(task.output_size() == 2);
  CHECK(models::to_string(task.type) == "gaussian");
  // v = log(e^s - 1) makes softplus(v) = s.
  const float v1 = static_cast<float>(std::log(std::exp(1.0) - 1.0));
  const float v4 = static_cast<float>(std::log(std::exp(4.0) - 1.0));
  const Tensor output = tensor({0.f, v1, 1.f, v4}, {2, 2});
  const auto [mean_, variance] = models::gaussian_mean_variance(output);
  CHECK(mean_.to_vector() == std::vector<float>{0.f, 1.f});
  CHECK(variance.to_vector()[0] == Approx(1.0 + 1e-6).epsilon(1e-6));
  CHECK(variance.to_vector()[1] == Approx(4.0 + 1e-6).epsilon(1e-6));
  // targets 1 and 3: 0.5 (log σ² + (y − μ)² / σ²) = 0.5 (0 + 1) and 0.5 (log 4 + 4 / 4)
  const double expected = (0.5 + 0.5 * (std::log(4.0) + 1.0)) / 2;
  CHECK(models::task_loss(task, output, tensor({1.f, 3.f}, {2})).item() ==
        Approx(expected).epsilon(1e-5));
  // The floor: softplus(-30) ≈ 1e-13, so the variance is the 1e-6 floor itself.
  CHECK(models::gaussian_mean_variance(tensor({0.f, -30.f}, {1, 2})).variance.item() ==
        Approx(1e-6).epsilon(1e-4));
  CHECK_THROWS_WITH(models::task_loss(task, zeros({2, 1}), zeros({2})),
                    Contains("output [B, 2] and target [B]"));
  CHECK_THROWS_WITH(models::gaussian_mean_variance(zeros({2, 3})), Contains("[2, 3]"));
}

TEST_CASE("gaussian_mixture: mean of the means, mean variance plus the means' spread") {
  const float v1 = static_cast<float>(std::log(std::exp(1.0) - 1.0));
  const float v2 = static_cast<float>(std::log(std::exp(2.0) - 1.0));
  // Two members, one sample: μ = 1 and 3, σ² = 1 and 2 (plus the 1e-6 floor each).
  // μ* = 2; σ*² = mean(σ² + μ²) − μ*² = (2 + 11) / 2 − 4 = 2.5 (+1e-6).
  const models::MeanVariance mixture =
      train::gaussian_mixture(tensor({1.f, v1, 3.f, v2}, {2, 1, 2}));
  CHECK(mixture.mean.item() == Approx(2.0).epsilon(1e-6));
  CHECK(mixture.variance.item() == Approx(2.5 + 1e-6).epsilon(1e-6));
  CHECK_THROWS_WITH(train::gaussian_mixture(zeros({2, 3})), Contains("[K, B, 2]"));
}

TEST_CASE("deep ensembles learn a larger variance where the noise is larger") {
  // y = x + ε, ε ~ N(0, 0.1²) for x < 0 and N(0, 1) for x > 0.
  manual_seed(9);
  const int64_t n = 256;
  const Tensor x = uniform({n, 1}, -1.f, 1.f);
  const Tensor noise_scale = 0.1f + 0.9f * (x > 0.f);
  const Tensor y = (x + noise_scale * randn({n, 1})).reshape({n});
  const data::TensorDataset train({x, y});
  const auto config = net_config({models::gaussian("y")});
  models::Ensemble ensemble = make_ensemble(2, config);
  const train::EnsembleOptions options{.method = train::EnsembleMethod::deep_ensemble,
                                       .trainer = {.epochs = 40, .batch_size = 32},
                                       .optimizer = train::adam_factory(1e-2)};
  const train::EnsembleHistory history =
      train::fit_ensemble(ensemble, config.tasks, options, train);
  for (const train::History& run : history.runs) {
    CHECK(run.epochs.back().metrics.at("train/loss") <
          run.epochs.front().metrics.at("train/loss") - 0.5);
  }
  ensemble.eval();
  NoGradGuard no_grad;
  const Tensor probe = tensor({-0.5f, 0.5f}, {2, 1});
  const models::MeanVariance mixture = train::gaussian_mixture(ensemble.stacked_outputs(probe)[0]);
  const std::vector<float> variance = mixture.variance.to_vector();
  INFO("variance at -0.5: " << variance[0] << ", at 0.5: " << variance[1]);
  CHECK(variance[1] > 10 * variance[0]);
}

TEST_CASE("adversarial training adds the loss at x + ε sign(∇x ℓ) to the loss at x") {
  const data::TensorDataset train = toy_data(32, 10);
  const auto config = net_config({models::gaussian("y")});
  // One epoch of one full batch: the loss reported is the loss at the initial weights.
  const auto first_step_loss = [&](bool adversarial, double epsilon) {
    manual_seed(11);
    models::Ensemble ensemble = make_ensemble(1, config);
    const train::EnsembleOptions options{.method = train::EnsembleMethod::deep_ensemble,
                                         .trainer = {.epochs = 1, .batch_size = 32},
                                         .optimizer = train::adam_factory(1e-2),
                                         .adversarial = adversarial,
                                         .adversarial_epsilon = epsilon};
    return train::fit_ensemble(ensemble, config.tasks, options, train)
        .runs[0]
        .epochs[0]
        .metrics.at("train/loss");
  };
  const double clean = first_step_loss(false, 0.01);
  // With ε = 0 the adversarial input is x itself, so the loss doubles; with ε > 0 the step
  // along the gradient's sign raises the second term.
  CHECK(first_step_loss(true, 0.0) == Approx(2 * clean).epsilon(1e-6));
  const double attacked = first_step_loss(true, 0.01);
  CHECK(std::isfinite(attacked));
  CHECK(attacked > 2 * clean);
}

TEST_CASE("MC dropout samples differ, and equal the eval output when p = 0") {
  manual_seed(12);
  const Tensor x = uniform({5, 1}, -1.f, 1.f);
  models::MultiTaskNet dropping(net_config({models::regression("y")}, /*dropout=*/0.5f));
  dropping.eval();
  const std::vector<Tensor> samples = train::mc_dropout_samples(dropping, x, 20);
  REQUIRE(samples.size() == 1);
  CHECK(samples[0].shape() == Shape{20, 5, 1});
  CHECK(!dropping.is_training());  // the mode is restored
  CHECK(narrow(samples[0], 0, 0, 1).to_vector() != narrow(samples[0], 0, 1, 1).to_vector());
  CHECK(train::mc_dropout_samples(dropping, x).at(0).size(0) == 20);

  models::MultiTaskNet plain(net_config({models::regression("y")}, /*dropout=*/0.f));
  plain.eval();
  const std::vector<float> eval_output = plain.forward(x)[0].to_vector();
  const Tensor plain_samples = train::mc_dropout_samples(plain, x, 3)[0];
  for (int64_t s = 0; s < 3; ++s) CHECK(narrow(plain_samples, 0, s, 1).to_vector() == eval_output);
  CHECK_THROWS_WITH(train::mc_dropout_samples(plain, x, 0), Contains("samples must be >= 1"));
}

TEST_CASE("ensemble training rejects invalid methods and options") {
  CHECK(train::ensemble_method("snapshot") == train::EnsembleMethod::snapshot);
  CHECK(train::to_string(train::EnsembleMethod::gradient_boosting) == "gradient_boosting");
  CHECK_THROWS_WITH(train::ensemble_method("stacking"),
                    Contains("unknown method \"stacking\"") && Contains("deep_ensemble"));

  const data::TensorDataset train = toy_data(16, 13);
  const auto config = net_config({models::regression("y")});
  const std::vector<models::Task>& tasks = config.tasks;
  CHECK_THROWS_WITH(make_ensemble(0, config), Contains("at least one member"));
  models::Ensemble empty;
  CHECK_THROWS_WITH(train::fit_ensemble(empty, tasks, {}, train), Contains("no members"));

  models::Ensemble ensemble = make_ensemble(3, config);
  train::EnsembleOptions options{.method = train::EnsembleMethod::snapshot,
                                 .trainer = {.epochs = 5, .batch_size = 8}};
  CHECK_THROWS_WITH(train::fit_ensemble(ensemble, tasks, options, train),
                    Contains("epochs (5) must be a positive multiple") && Contains("(3)"));
  options.trainer.epochs = 6;
  options.trainer.patience = 2;
  CHECK_THROWS_WITH(train::fit_ensemble(ensemble, tasks, options, train),
                    Contains("early stopping"));

  options = {.method = train::EnsembleMethod::gradient_boosting, .trainer = {.epochs = 1}};
  for (const double shrinkage : {0.0, 1.5}) {
    options.shrinkage = shrinkage;
    CHECK_THROWS_WITH(train::fit_ensemble(ensemble, tasks, options, train),
                      Contains("shrinkage must be in (0, 1]"));
  }
  options.shrinkage = 0.1;
  const data::TensorDataset labels({train.tensors()[0], zeros({16})});
  CHECK_THROWS_WITH(train::fit_ensemble(ensemble, {models::binary("b")}, options, labels),
                    Contains("task 'b' is binary"));
  CHECK_THROWS_WITH(train::boosted_outputs(ensemble, train.tensors()[0], 0.0),
                    Contains("shrinkage"));

  options = {.method = train::EnsembleMethod::deep_ensemble,
             .adversarial = true,
             .adversarial_epsilon = -0.1};
  CHECK_THROWS_WITH(train::fit_ensemble(ensemble, tasks, options, train),
                    Contains("adversarial_epsilon must be >= 0"));
  options = {.method = static_cast<train::EnsembleMethod>(42)};
  CHECK_THROWS_WITH(train::fit_ensemble(ensemble, tasks, options, train),
                    Contains("unknown method"));
  CHECK_THROWS_WITH(train::bootstrap_indices(0, 1), Contains("n must be in [1, 2^24]"));
}

TEST_CASE("Trainer::set_batch_loss decides the losses a batch trains on") {
  const data::TensorDataset train = toy_data(8, 14);
  const auto config = net_config({models::regression("y")});
  models::MultiTaskNet net(config);
  optim::SGD sgd(net.parameters(), {.lr = 0.0});
  train::Trainer trainer(net, config.tasks, sgd, {.epochs = 1, .batch_size = 8});
  trainer.set_batch_loss([&net](const Tensor& x, const std::vector<Tensor>& targets) {
    REQUIRE(targets.size() == 1);
    return std::vector<Tensor>{0.f * mean(net.forward(x)[0]) + 3.f};
  });
  CHECK(trainer.fit(train).epochs[0].metrics.at("train/loss") == Approx(3.0));

  train::Trainer two(net, config.tasks, sgd, {.epochs = 1, .batch_size = 8});
  two.set_batch_loss([&net](const Tensor& x, const std::vector<Tensor>&) {
    const Tensor loss = mean(net.forward(x)[0]);
    return std::vector<Tensor>{loss, loss};
  });
  CHECK_THROWS_WITH(two.fit(train), Contains("the batch loss gave 2 losses for 1 tasks"));
}

TEST_CASE(
    "batch_ensemble_loss averages every member's loss on the batch, and the forward combines") {
  manual_seed(21);
  const std::vector<models::Task> tasks{models::regression("y"), models::multiclass("c", 3),
                                        models::binary("b")};
  models::BatchEnsembleNet net(3, {.inputs = 2, .hidden = {4}, .tasks = tasks});
  const Tensor x = randn({5, 2}), y = randn({5});
  const Tensor c = tensor({0, 2, 1, 1, 0}), b = tensor({1, 0, 0, 1, 1});
  const std::vector<Tensor> losses = train::batch_ensemble_loss(net)(x, {y, c, b});
  const std::vector<Tensor> outputs = net.forward(x);  // [3, 5, out]
  REQUIRE(losses.size() == 3);
  // Regression, by hand: the mean over members k and rows i of (out[k, i] − y[i])².
  const std::vector<float> out = outputs[0].to_vector(), target = y.to_vector();
  double squares = 0;
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 5; ++i) squares += std::pow(out[k * 5 + i] - target[i], 2);
  CHECK(losses[0].item() == Approx(squares / 15).epsilon(1e-6));
  // Classification: the mean of the members' own losses.
  for (size_t t = 1; t < 3; ++t) {
    const Tensor& labels = t == 1 ? c : b;
    double total = 0;
    for (int64_t k = 0; k < 3; ++k)
      total +=
          models::task_loss(tasks[t], narrow(outputs[t], 0, k, 1).reshape({5, -1}), labels).item();
    CHECK(losses[t].item() == Approx(total / 3).epsilon(1e-6));
  }
  // The forward: the members' mean, and logits whose softmax (sigmoid) is the soft vote.
  const std::vector<Tensor> combined = train::batch_ensemble_forward(net)(x);
  CHECK(max_abs_diff(combined[0], models::average(outputs[0])) < 1e-6);
  CHECK(max_abs_diff(softmax(combined[1], -1), models::soft_vote(outputs[1])) < 1e-6);
  CHECK(max_abs_diff(sigmoid(combined[2]), models::soft_vote(outputs[2])) < 1e-6);

  const std::vector<models::Task> gaussian{models::gaussian("y")};
  models::BatchEnsembleNet mixture(2, {.inputs = 2, .hidden = {4}, .tasks = gaussian});
  CHECK_THROWS_WITH(train::batch_ensemble_loss(mixture),
                    Contains("batch_ensemble_loss: task 'y' is gaussian"));
  CHECK_THROWS_WITH(train::batch_ensemble_forward(mixture),
                    Contains("batch_ensemble_forward: task 'y' is gaussian"));
}

TEST_CASE("a BatchEnsembleNet trains through a Trainer with its batch loss") {
  const data::TensorDataset train = toy_data(128, 22);
  const auto config = net_config({models::regression("y")});
  manual_seed(23);
  models::BatchEnsembleNet net(4, config);
  optim::Adam adam(net.parameters(), {.lr = 1e-2});
  train::Trainer trainer(net, train::batch_ensemble_forward(net), config.tasks, adam,
                         {.epochs = 40, .batch_size = 32});
  trainer.set_batch_loss(train::batch_ensemble_loss(net));
  const train::History history = trainer.fit(train, &train);
  const double first = history.epochs.front().metrics.at("train/loss");
  const double last = history.epochs.back().metrics.at("train/loss");
  INFO("train loss " << first << " -> " << last);
  // y = x³/4 − x has variance 32/105 ≈ 0.30 on [-2, 2]; 40 epochs fit 80% of it (89.5% on
  // the worst of 59 draws). Against the first epoch's loss instead, a draw whose first epoch
  // already fit well missed 10x.
  CHECK(last < 0.2 * 32.0 / 105.0);
  // The validation loss is the combined prediction's: the members' mean, by MSE, with the
  // weights of the best epoch, which fit() restored.
  const Tensor mean_prediction = models::average(net.forward(train.tensors()[0])[0]);
  const auto best = static_cast<size_t>(history.best_epoch);
  CHECK(history.epochs.at(best).metrics.at("val/loss") ==
        Approx(mse_loss(mean_prediction.reshape({-1}), train.tensors()[1]).item()).epsilon(1e-5));
}
