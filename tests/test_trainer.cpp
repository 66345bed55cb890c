#include <ember/ember.h>
#include <ember/train/progress.h>
#include <ember/train/run_logger.h>
#include <ember/train/trainer.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>

#include "temp_dir.h"
#include "two_task_net.h"

using namespace ember;

namespace {

using two_task::Net;
using two_task::StepLog;
using two_task::two_task_data;

// y = 2 x0 - x1 + 0.5 on `rows` random inputs: a regression a Linear(2, 1) fits exactly.
data::TensorDataset line_data(int64_t rows) {
  const Tensor x = randn({rows, 2});
  const Tensor y = matmul(x, tensor({2.f, -1.f})) + 0.5f;
  return data::TensorDataset({x, y});
}

std::vector<models::Task> two_tasks() {
  return {models::regression("value"), models::multiclass("band", 3)};
}

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("ember_test_trainer_" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

}  // namespace

TEST_CASE("trainer fits a line to within 1e-3 RMSE") {
  manual_seed(0);
  const data::TensorDataset train_set = line_data(256), validation = line_data(64);
  nn::Linear model(2, 1);
  optim::SGD sgd(model.parameters(), {.lr = 0.1});
  train::Trainer trainer(model, {models::regression("y")}, sgd, {.epochs = 30, .batch_size = 16});
  const train::History history = trainer.fit(train_set, &validation);
  REQUIRE(history.epochs.size() == 30);
  CHECK(history.epochs.back().metrics.at("val/y/rmse") < 1e-3);
  CHECK(model.weight.to_vector()[0] == Approx(2.f).margin(1e-3));
  CHECK(model.weight.to_vector()[1] == Approx(-1.f).margin(1e-3));
  CHECK(model.bias.item() == Approx(0.5f).margin(1e-3));
}

TEST_CASE("trainer steps equal a hand-written loop bit for bit") {
  manual_seed(3);
  const data::TensorDataset train_set = two_task_data(50);
  const auto tasks = two_tasks();

  manual_seed(7);
  Net looped;
  optim::Adam looped_adam(looped.parameters(), {.lr = 0.01});
  std::vector<double> expected;
  data::DataLoader loader(train_set, 8);
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (const std::vector<Tensor>& batch : loader) {
      const std::vector<Tensor> out = looped.forward(batch[0]);
      const Tensor value = nn::mse_loss(out[0], batch[1].reshape({-1, 1}));
      const Tensor band = nn::cross_entropy(out[1], batch[2]);
      expected.push_back(static_cast<double>(value.item()) + band.item());
      looped_adam.zero_grad();
      (value + band).backward();
      looped_adam.step();
    }
  }

  manual_seed(7);
  Net model;
  optim::Adam adam(model.parameters(), {.lr = 0.01});
  train::Trainer trainer(model, tasks, adam, {.epochs = 3, .batch_size = 8, .shuffle = false});
  auto log = std::make_shared<StepLog>();
  trainer.add_callback(log);
  trainer.fit(train_set);
  CHECK(log->losses == expected);
}

TEST_CASE("trainer stops early and restores the best epoch's weights") {
  manual_seed(0);
  const data::TensorDataset train_set = line_data(128);
  // Validation targets of the opposite line: fitting the training data makes them worse.
  const Tensor val_x = randn({32, 2});
  const data::TensorDataset validation({val_x, -(matmul(val_x, tensor({2.f, -1.f})) + 0.5f)});
  nn::Linear model(2, 1);
  optim::SGD sgd(model.parameters(), {.lr = 0.05});
  struct Snapshots : train::Callback {
    nn::Linear* model;
    std::vector<std::vector<float>> weights;
    void on_epoch_end(const train::EpochResult&) override {
      weights.push_back(model->weight.to_vector());
    }
  };
  auto snapshots = std::make_shared<Snapshots>();
  snapshots->model = &model;
  train::Trainer trainer(model, {models::regression("y")}, sgd,
                         {.epochs = 50, .batch_size = 16, .patience = 3});
  trainer.add_callback(snapshots);
  const train::History history = trainer.fit(train_set, &validation);
  CHECK(history.stopped_early);
  REQUIRE(history.epochs.size() == static_cast<size_t>(history.best_epoch + 4));
  CHECK(model.weight.to_vector() == snapshots->weights[history.best_epoch]);
  CHECK(model.weight.to_vector() != snapshots->weights.back());
  // The best epoch has the lowest validation loss of all.
  for (const train::EpochResult& epoch : history.epochs) {
    CHECK(epoch.metrics.at("val/loss") >= history.best_value);
  }
}

TEST_CASE("a run stopped and resumed from its checkpoint repeats the same losses bit for bit") {
  manual_seed(5);
  const data::TensorDataset train_set = two_task_data(60), validation = two_task_data(20);
  const auto run = [&](int64_t epochs, const std::string& dir, bool resume, uint64_t init_seed) {
    manual_seed(init_seed);
    Net model;
    optim::Adam adam(model.parameters(), {.lr = 0.01});
    optim::StepLR schedule(adam, 2, 0.5);
    train::Trainer trainer(model, two_tasks(), adam,
                           {.epochs = epochs, .batch_size = 7, .checkpoint_dir = dir});
    trainer.set_scheduler(&schedule);
    if (resume) trainer.resume();
    auto log = std::make_shared<StepLog>();
    trainer.add_callback(log);
    trainer.fit(train_set, &validation);
    return std::make_pair(log->losses, model.state_dict().front().second.to_vector());
  };
  const auto [whole, whole_weights] = run(6, temp_dir("whole"), false, 11);
  const std::string dir = temp_dir("resumed");
  const auto [first, first_weights] = run(3, dir, false, 11);
  // A different seed before building: every weight must come from the checkpoint.
  const auto [second, second_weights] = run(6, dir, true, 12345);
  std::vector<double> joined = first;
  joined.insert(joined.end(), second.begin(), second.end());
  REQUIRE(joined.size() == whole.size());
  CHECK(joined == whole);
  CHECK(second_weights == whole_weights);
}

TEST_CASE("a non-finite loss stops training and names the epoch, step and task") {
  manual_seed(0);
  data::TensorDataset good = line_data(16);
  Tensor y = clone(good.tensors()[1]);
  y.data()[9] = std::nanf("");  // in the third batch of 4
  const data::TensorDataset bad({good.tensors()[0], y});
  nn::Linear model(2, 1);
  optim::SGD sgd(model.parameters(), {.lr = 0.1});
  train::Trainer trainer(model, {models::regression("y")}, sgd,
                         {.epochs = 2, .batch_size = 4, .shuffle = false});
  CHECK_THROWS_WITH(trainer.fit(bad),
                    Catch::Contains("task 'y' is NaN at epoch 1, step 3; training stopped"));
}

TEST_CASE("Ctrl-C during fit stops after the batch and keeps the best weights") {
  manual_seed(0);
  const data::TensorDataset train_set = line_data(64);
  nn::Linear model(2, 1);
  optim::SGD sgd(model.parameters(), {.lr = 0.1});
  struct Interrupter : train::Callback {
    void on_step_end(const train::StepResult& step) override {
      if (step.step == 10) std::raise(SIGINT);
    }
  };
  train::Trainer trainer(model, {models::regression("y")}, sgd, {.epochs = 5, .batch_size = 16});
  auto log = std::make_shared<StepLog>();
  trainer.add_callback(std::make_shared<Interrupter>());
  trainer.add_callback(log);
  const train::History history = trainer.fit(train_set);
  CHECK(history.interrupted);
  CHECK(log->losses.size() == 10);
  CHECK(history.epochs.size() == 2);  // the partial third epoch is not scored
  CHECK(history.best_epoch >= 0);
}

TEST_CASE("gradient clipping bounds each SGD step by lr times the max norm") {
  manual_seed(0);
  const data::TensorDataset train_set = line_data(8);
  nn::Linear model(2, 1);
  const std::vector<float> before = model.weight.to_vector();
  optim::SGD sgd(model.parameters(), {.lr = 0.5});
  train::Trainer trainer(model, {models::regression("y")}, sgd,
                         {.epochs = 1, .batch_size = 8, .clip_grad_norm = 0.01});
  trainer.fit(train_set);
  const std::vector<float> after = model.weight.to_vector();
  const float moved = std::hypot(after[0] - before[0], after[1] - before[1]);
  CHECK(moved > 0.f);
  CHECK(moved <= 0.5f * 0.01f * 1.0001f);
}

TEST_CASE("trainer refuses bad setups with clear errors") {
  manual_seed(0);
  nn::Linear model(2, 1);
  optim::SGD sgd(model.parameters(), {.lr = 0.1});
  CHECK_THROWS_WITH(train::Trainer(model, {}, sgd), "Trainer: no tasks given");
  CHECK_THROWS_WITH(train::Trainer(model, {models::regression("y")}, sgd, {.batch_size = 0}),
                    "Trainer: batch_size must be >= 1, got 0");
  train::Trainer trainer(model, {models::regression("y"), models::regression("z")}, sgd);
  CHECK_THROWS_WITH(trainer.fit(line_data(8)),
                    Catch::Contains("the training data holds 2 tensors; expected the inputs and "
                                    "one target per task (3)"));
  const Tensor x = randn({8, 2});
  CHECK_THROWS_WITH(trainer.fit(data::TensorDataset({x, x.sum({1}), x.sum({1})})),
                    "Trainer::fit: the model gave 1 outputs for 2 tasks");
  train::Trainer no_validation(model, {models::regression("y")}, sgd, {.monitor = "val/y/rmse"});
  CHECK_THROWS_WITH(no_validation.fit(line_data(8)),
                    "Trainer::fit: monitor \"val/y/rmse\" needs validation data");
  train::Trainer unknown(model, {models::regression("y")}, sgd, {.monitor = "train/accuracy"});
  CHECK_THROWS_WITH(unknown.fit(line_data(8)),
                    Catch::Contains("no metric \"train/accuracy\" to monitor (metrics: lr, "));
  CHECK_THROWS_WITH(trainer.resume(), "Trainer::resume: no checkpoint_dir set");
  train::Trainer missing(model, {models::regression("y")}, sgd,
                         {.checkpoint_dir = temp_dir("missing")});
  CHECK_THROWS_WITH(missing.resume(), Catch::Contains("Trainer::resume: no checkpoint in "));
}

TEST_CASE("resume refuses a checkpoint of other tasks") {
  manual_seed(0);
  const std::string dir = temp_dir("other_tasks");
  nn::Linear model(2, 1);
  optim::SGD sgd(model.parameters(), {.lr = 0.1});
  train::Trainer trainer(model, {models::regression("y")}, sgd,
                         {.epochs = 1, .checkpoint_dir = dir});
  trainer.fit(line_data(8));
  train::Trainer other(model, {models::regression("z")}, sgd, {.checkpoint_dir = dir});
  CHECK_THROWS_WITH(other.resume(),
                    "Trainer::resume: the checkpoint's tasks (y) differ from this trainer's (z)");
}

TEST_CASE("task losses check the output and target shapes of each kind") {
  const Tensor logits = zeros({4, 3});
  CHECK(models::task_loss(models::multiclass("c", 3), logits, zeros({4})).item() ==
        Approx(std::log(3.0)));
  CHECK(models::task_loss(models::binary("b"), zeros({4, 1}), ones({4})).item() ==
        Approx(std::log(2.0)));
  CHECK(models::task_loss(models::regression("r"), ones({4, 1}), zeros({4})).item() == 1.f);
  CHECK_THROWS_WITH(models::task_loss(models::multiclass("c", 4), logits, zeros({4})),
                    "task 'c' (multiclass): output [4, 3] and target [4] do not fit; expected "
                    "output [B, 4] and target [B]");
  CHECK_THROWS_WITH(models::task_loss(models::regression("r"), logits, zeros({4})),
                    Catch::Contains("task 'r' (regression): output [4, 3] and target [4]"));
  CHECK_THROWS_WITH(models::multiclass("c", 1),
                    "multiclass task 'c': needs at least 2 classes, got 1");
}

TEST_CASE("the thread generator's state round-trips through text") {
  manual_seed(42);
  const std::string state = random_state();
  const std::vector<float> first = rand({5}).to_vector();
  const uint64_t seed = next_seed();
  set_random_state(state);
  CHECK(rand({5}).to_vector() == first);
  CHECK(next_seed() == seed);
  const std::string before = random_state();
  CHECK_THROWS_WITH(set_random_state("12 34"),
                    "set_random_state: not a state from random_state() (5 characters)");
  CHECK(random_state() == before);
}

TEST_CASE("the run logger writes metrics.csv and TensorBoard events per epoch") {
  manual_seed(0);
  const std::string dir = temp_dir("run_logger");
  const data::TensorDataset train_set = line_data(32), validation = line_data(16);
  nn::Linear model(2, 1);
  optim::SGD sgd(model.parameters(), {.lr = 0.1});
  train::Trainer trainer(model, {models::regression("y")}, sgd, {.epochs = 3, .batch_size = 8});
  trainer.add_callback(std::make_shared<train::RunLogger>(dir));
  const train::History history = trainer.fit(train_set, &validation);
  const data::CsvTable csv = data::read_csv(dir + "/metrics.csv");
  CHECK(csv.columns == std::vector<std::string>{"epoch", "lr", "train/loss", "train/y/loss",
                                                "val/loss", "val/y/loss", "val/y/rmse", "seconds"});
  REQUIRE(csv.values.size(0) == 3);
  REQUIRE(history.epochs.size() == 3);
  const std::vector<float> values = csv.values.to_vector();
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    CHECK(values[epoch * 8] == static_cast<float>(epoch + 1));
    CHECK(values[epoch * 8 + 4] ==
          static_cast<float>(history.epochs[epoch].metrics.at("val/loss")));
  }
  int event_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/tensorboard")) {
    event_files += entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  }
  CHECK(event_files == 1);
}

TEST_CASE("the progress bar formats durations and stays silent off a terminal") {
  CHECK(train::format_duration(0) == "0:00");
  CHECK(train::format_duration(59.6) == "1:00");
  CHECK(train::format_duration(3725) == "1:02:05");
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  train::ProgressBar bar(2, 4, file);
  CHECK_FALSE(bar.enabled());
  bar.on_step_end({0, 1, 0.5, {0.5}});
  bar.on_epoch_end({});
  CHECK(std::ftell(file) == 0);
  std::fclose(file);
  CHECK_THROWS_WITH(train::ProgressBar(2, 0),
                    "ProgressBar: needs epochs >= 0 and batches_per_epoch >= 1, got 2 and 0");
}

TEST_CASE("a History survives its trip through bytes, and garbled bytes are refused") {
  train::History history;
  history.epochs.push_back({0, {{"train/loss", 1.5}, {"val/b/accuracy", 0.25}}, true, 0.125});
  history.epochs.push_back({1, {{"train/loss", 1.25}}, false, 0.5});
  history.best_epoch = 0;
  history.best_value = 1.5;
  history.stopped_early = true;
  const std::vector<std::byte> bytes = train::to_bytes(history);
  const train::History back = train::history_from_bytes(bytes);
  REQUIRE(back.epochs.size() == 2);
  CHECK(back.epochs[0].metrics == history.epochs[0].metrics);
  CHECK(back.epochs[1].seconds == 0.5);
  CHECK(back.epochs[0].improved);
  CHECK(back.best_value == 1.5);
  CHECK(back.stopped_early);
  CHECK_FALSE(back.interrupted);
  CHECK_THROWS_WITH(train::history_from_bytes(std::span(bytes).first(bytes.size() - 1)),
                    Catch::Matchers::Contains("the bytes end early"));
  std::vector<std::byte> longer = bytes;
  longer.push_back(std::byte{0});
  CHECK_THROWS_WITH(train::history_from_bytes(longer),
                    Catch::Matchers::Contains("hold more than one History"));
}

TEST_CASE("train_run reports metrics on the validation split as well as on the test split") {
  // Labels drawn independently of the inputs, so accuracies lie strictly between 0 and 1 and
  // each is a count over its own split: k / validation_rows, not k / test_rows. 23 validation
  // rows (prime) beside 30 test rows: k / 23 is a whole number of 30ths only at k = 0 or 23,
  // all 23 noise labels wrong or all right. (With 7 validation rows, 1 of 131 draws did that.)
  TempDir dir;
  manual_seed(5);
  const Tensor x = randn({100, 2}), coin = rand({100});
  {
    std::ofstream csv(dir.file("noise.csv"));
    csv << "a,b,y\n";
    for (int64_t i = 0; i < 100; ++i)
      csv << x.data()[2 * i] << ',' << x.data()[2 * i + 1] << ',' << (coin.data()[i] < 0.5f)
          << '\n';
  }
  train::RunOptions options;
  options.data_path = dir.file("noise.csv");
  options.targets = {train::parse_target("y:classes")};
  options.test_fraction = 0.3f;
  options.validation_fraction = 0.32f;  // ceil(0.32 · 70) = 23 rows
  options.epochs = 3;
  options.out_dir = dir.file("run");
  options.progress = false;
  const train::RunReport report = train::train_run(options);
  REQUIRE(report.validation_rows == 23);
  REQUIRE(report.test_rows == 30);
  const auto counted_over = [](double accuracy, int64_t rows) {
    const double correct = accuracy * double(rows);
    return std::fabs(correct - std::round(correct)) < 1e-9;
  };
  const double validation = report.validation_metrics.at("y").at("accuracy");
  const double test = report.test_metrics.at("y").at("accuracy");
  INFO("validation " << validation << " of " << report.validation_rows << " rows, test " << test
                     << " of " << report.test_rows);
  CHECK(counted_over(validation, report.validation_rows));
  CHECK_FALSE(counted_over(validation, report.test_rows));
  CHECK(counted_over(test, report.test_rows));
  CHECK(std::isfinite(report.validation_metrics.at("y").at("log_loss")));
}

TEST_CASE(
    "train_run --calibrate temperature-scales classification, fitted on the validation split") {
  // Three noisy classes and a binary label from two inputs: the network trains long enough to
  // be somewhat miscalibrated, and nothing about the data makes T = 1 the NLL minimum.
  TempDir dir;
  manual_seed(3);
  const Tensor x = randn({240, 2}), noise = randn({240});
  {
    std::ofstream csv(dir.file("blobs.csv"));
    csv << "a,b,c,p,r\n";
    for (int64_t i = 0; i < 240; ++i) {
      const float a = x.data()[2 * i], b = x.data()[2 * i + 1], n = noise.data()[i];
      const int c = a + n > 0.5f ? 2 : (b + n > 0.f ? 1 : 0);
      csv << a << ',' << b << ',' << c << ',' << (a * b + n > 0.f) << ',' << a + b << '\n';
    }
  }
  const auto run = [&](const std::string& name, int64_t members, bool calibrate) {
    train::RunOptions options;
    options.data_path = dir.file("blobs.csv");
    options.targets = {train::parse_target("c:classes"), train::parse_target("p:binary"),
                       train::parse_target("r:regression")};
    options.hidden = {32};
    options.epochs = 30;
    options.patience = 0;
    options.lr = 1e-2;
    options.ensemble = members;
    options.calibrate = calibrate;
    options.out_dir = dir.file(name);
    options.progress = false;
    return train::train_run(options);
  };
  for (const int64_t members : {1, 3}) {
    INFO(members << " member(s)");
    const std::string name = "m" + std::to_string(members);
    const train::RunReport plain = run(name + "plain", members, false);
    const train::RunReport scaled = run(name + "scaled", members, true);
    const train::SavedModel saved = train::load_model(dir.file(name + "scaled/model.safetensors"));
    REQUIRE(saved.spec.temperatures.size() == 3);
    CHECK(saved.spec.temperatures[2] == 1.0);  // the regression task is left alone
    CHECK(train::load_model(dir.file(name + "plain/model.safetensors")).spec.temperatures.empty());
    for (const std::string task : {"c", "p"}) {
      INFO("task " << task);
      // The argmax does not move, so neither does any accuracy.
      CHECK(scaled.test_metrics.at(task).at("accuracy") ==
            plain.test_metrics.at(task).at("accuracy"));
      CHECK(scaled.validation_metrics.at(task).at("accuracy") ==
            plain.validation_metrics.at(task).at("accuracy"));
      // T minimises the validation NLL over an interval that holds T = 1, so the validation
      // NLL cannot rise; it falls unless T = 1 happens to be the minimum (it is not here).
      CHECK(scaled.validation_metrics.at(task).at("log_loss") <
            plain.validation_metrics.at(task).at("log_loss"));
    }
    CHECK(saved.spec.temperatures[0] != 1.0);
    CHECK(scaled.test_metrics.at("r") == plain.test_metrics.at("r"));
    CHECK(scaled.metrics_json.find("\"temperature\"") != std::string::npos);
    CHECK(plain.metrics_json.find("\"temperature\"") == std::string::npos);
  }
}

TEST_CASE("train_run finishes and saves its model when a split leaves roc_auc or r2 undefined") {
  // 20 rows, one positive: the test split (4 rows) or the validation split (2) holds no
  // positive whatever the shuffle, so ROC AUC is undefined there; the 5-row regression file
  // leaves one test row, too few for R².
  TempDir dir;
  {
    std::ofstream binary(dir.file("rare.csv")), regression(dir.file("five.csv"));
    binary << "x,b\n";
    for (int i = 0; i < 20; ++i) binary << i << ',' << (i == 7) << '\n';
    regression << "x,y\n";
    for (int i = 0; i < 5; ++i) regression << i << ',' << 2 * i << '\n';
  }
  train::RunOptions options;
  options.epochs = 1;
  options.progress = false;
  options.data_path = dir.file("rare.csv");
  options.targets = {train::parse_target("b:binary")};
  options.out_dir = dir.file("rare");
  const train::RunReport rare = train::train_run(options);
  const double test_auc = rare.test_metrics.at("b").at("roc_auc");
  const double validation_auc = rare.validation_metrics.at("b").at("roc_auc");
  CHECK((std::isnan(test_auc) || std::isnan(validation_auc)));
  CHECK(std::isfinite(rare.test_metrics.at("b").at("accuracy")));
  if (std::isnan(test_auc)) CHECK(rare.metrics_json.find("\"roc_auc\": null") != std::string::npos);
  CHECK(std::filesystem::exists(dir.file("rare/model.safetensors")));

  options.data_path = dir.file("five.csv");
  options.targets = {train::parse_target("y:regression")};
  options.out_dir = dir.file("five");
  const train::RunReport five = train::train_run(options);
  CHECK(five.test_rows == 1);
  CHECK(std::isnan(five.test_metrics.at("y").at("r2")));
  CHECK(std::isfinite(five.test_metrics.at("y").at("rmse")));
  CHECK(std::filesystem::exists(dir.file("five/model.safetensors")));
}

TEST_CASE(
    "train_run --calibrate keeps T = 1 and says so where the validation NLL falls all the way to "
    "T = 0.01") {
  // The label is the sign of x: 30 epochs classify every validation row right with a margin,
  // so the NLL falls all the way to T -> 0 (fit_temperature returns its bound, 0.01), which
  // would make any later mistake cost without limit.
  TempDir dir;
  {
    std::ofstream csv(dir.file("sign.csv"));
    csv << "x,b\n";
    for (int i = 0; i < 60; ++i) csv << (i % 2 == 0 ? -1 : 1) << ',' << i % 2 << '\n';
  }
  train::RunOptions options;
  options.data_path = dir.file("sign.csv");
  options.targets = {train::parse_target("b:binary")};
  options.epochs = 30;
  options.calibrate = true;
  options.out_dir = dir.file("run");
  options.progress = false;
  const train::RunReport report = train::train_run(options);
  REQUIRE(report.notes.size() == 1);
  CHECK(report.notes[0] ==
        "--calibrate: task 'b': the validation NLL (5 rows) keeps falling as T falls to its "
        "bound 0.01; its temperature stays 1");
  CHECK(report.metrics_json.find("\"b\": 1.0") != std::string::npos);
  CHECK(train::load_model(dir.file("run/model.safetensors")).spec.temperatures ==
        std::vector<double>{1.0});
}

TEST_CASE("train_run --calibrate refuses a run without a classification target") {
  TempDir dir;
  {
    std::ofstream csv(dir.file("line.csv"));
    csv << "x,y\n";
    for (int i = 0; i < 40; ++i) csv << i << ',' << 2 * i << '\n';
  }
  train::RunOptions options;
  options.data_path = dir.file("line.csv");
  options.targets = {train::parse_target("y:regression")};
  options.epochs = 1;
  options.calibrate = true;
  options.out_dir = dir.file("run");
  options.progress = false;
  CHECK_THROWS_WITH(train::train_run(options),
                    "--calibrate fits a temperature per classification target, and there is none");
}

TEST_CASE(
    "load_model refuses a model file without a description or with temperatures that do "
    "not fit") {
  TempDir dir;
  {
    std::ofstream csv(dir.file("two.csv"));
    csv << "x,a,b\n";
    for (int i = 0; i < 40; ++i) csv << i << ',' << i % 3 << ',' << i % 2 << '\n';
  }
  train::RunOptions options;
  options.data_path = dir.file("two.csv");
  options.targets = {train::parse_target("a:classes"), train::parse_target("b:binary")};
  options.hidden = {4};
  options.epochs = 1;
  options.calibrate = true;
  options.out_dir = dir.file("run");
  options.progress = false;
  train::train_run(options);
  const SafetensorsFile file = load_safetensors(dir.file("run/model.safetensors"));
  const std::string description = file.metadata.at("ember_model");
  const size_t list = description.find("\"temperatures\":[");
  REQUIRE(list != std::string::npos);
  const size_t first = list + std::string("\"temperatures\":[").size();
  const size_t end = description.find(']', first);
  // The description with its temperature list replaced by `values`, saved as `name`.
  const auto saved_with = [&](const std::string& name, const std::string& values) {
    const std::string path = dir.file(name);
    save_safetensors(
        path, file.tensors,
        {{"ember_model", description.substr(0, first) + values + description.substr(end)}});
    return path;
  };
  REQUIRE_NOTHROW(
      train::load_model(saved_with("same.safetensors", description.substr(first, end - first))));
  CHECK_THROWS_WITH(
      train::load_model(saved_with("one.safetensors", "1.5")),
      Catch::Matchers::Contains("not a model description (1 temperatures for 2 tasks)"));
  CHECK_THROWS_WITH(train::load_model(saved_with("negative.safetensors", "-1.0,1.0")),
                    Catch::Matchers::Contains("not a model description (a temperature of -1"));
  const std::string bare = dir.file("bare.safetensors");
  save_safetensors(bare, file.tensors);
  CHECK_THROWS_WITH(train::load_model(bare),
                    bare + ": not an ember model (no \"ember_model\" metadata)");
}

TEST_CASE("snapshot_epochs rounds the epochs down to whole cycles, at least one epoch each") {
  CHECK(train::snapshot_epochs(100, 3) == 99);
  CHECK(train::snapshot_epochs(99, 3) == 99);
  CHECK(train::snapshot_epochs(30, 5) == 30);
  CHECK(train::snapshot_epochs(2, 3) == 3);
}
