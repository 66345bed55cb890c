// Learning-rate schedulers: PyTorch's lr (and momentum) sequences, resuming, and every error.
//
// tests/reference/generate_optim.py drove each scheduler of its SCHEDULER_CASES over a
// two-group optimizer (lrs 0.1 and 0.05) in PyTorch 1.13 and stored the groups' lrs after
// construction and after every step. Set EMBER_OPTIM_REPORT=1 to print the largest relative
// error of each case.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <numbers>

#include <ember/ember.h>

using namespace ember;
using namespace ember::optim;
using Catch::Contains;

namespace {

const SafetensorsFile& fixture() {
  static const SafetensorsFile file =
      load_safetensors(std::string(EMBER_REFERENCE_DIR) + "/optim.safetensors");
  return file;
}

// The optimizer the schedulers drive: two groups with lrs 0.1 and 0.05, SGD with momentum
// 0.9 or Adam. Nothing is trained: only the options move.
struct Driven {
  std::vector<Tensor> weights{zeros({2}, true), zeros({3}, true)};
  std::unique_ptr<Optimizer> optimizer;

  explicit Driven(bool adam = false) {
    if (adam) {
      optimizer = std::make_unique<Adam>(std::vector<ParamGroup<AdamOptions>>{
          {{weights[0]}, AdamOptions{.lr = 0.1}}, {{weights[1]}, AdamOptions{.lr = 0.05}}});
    } else {
      optimizer = std::make_unique<SGD>(
          std::vector<ParamGroup<SGDOptions>>{
              {{weights[0]}, std::nullopt},
              {{weights[1]}, SGDOptions{.lr = 0.05, .momentum = 0.9}}},
          SGDOptions{.lr = 0.1, .momentum = 0.9});
    }
  }
  std::vector<double> lrs() const { return {optimizer->lr(0), optimizer->lr(1)}; }
  std::vector<double> momenta() const {
    const char* name = optimizer->has_option("beta1") ? "beta1" : "momentum";
    return {optimizer->option(0, name), optimizer->option(1, name)};
  }
};

using Schedulers = std::vector<std::unique_ptr<Scheduler>>;

struct SchedulerCase {
  std::string name;
  int steps;
  bool adam = false;
  std::function<Schedulers(Optimizer&)> build;
};

template <class... Built>
Schedulers list(std::unique_ptr<Built>... schedulers) {
  Schedulers all;
  (all.push_back(std::move(schedulers)), ...);
  return all;
}

// The C++ twin of generate_optim.py's SCHEDULER_CASES, in the same order.
const std::vector<SchedulerCase>& scheduler_cases() {
  static const std::vector<SchedulerCase> cases = {
      {"steplr", 40, false, [](Optimizer& o) { return list(std::make_unique<StepLR>(o, 7, 0.5)); }},
      {"multisteplr", 35, false,
       [](Optimizer& o) {
         return list(std::make_unique<MultiStepLR>(o, std::vector<int64_t>{3, 8, 8, 20}, 0.3));
       }},
      {"exponentiallr", 35, false,
       [](Optimizer& o) { return list(std::make_unique<ExponentialLR>(o, 0.9)); }},
      {"cosineannealinglr", 45, false,
       [](Optimizer& o) { return list(std::make_unique<CosineAnnealingLR>(o, 10, 0.001)); }},
      {"cosineannealingwarmrestarts", 40, false,
       [](Optimizer& o) {
         return list(std::make_unique<CosineAnnealingWarmRestarts>(o, 5, 2, 0.0005));
       }},
      {"cosineannealingwarmrestarts_tmult1", 35, false,
       [](Optimizer& o) { return list(std::make_unique<CosineAnnealingWarmRestarts>(o, 7)); }},
      {"linearlr", 35, false,
       [](Optimizer& o) { return list(std::make_unique<LinearLR>(o, 0.25, 1.0, 8)); }},
      {"linearlr_decay", 35, false,
       [](Optimizer& o) { return list(std::make_unique<LinearLR>(o, 1.0, 0.1, 10)); }},
      {"onecycle_cos", 40, false,
       [](Optimizer& o) {
         return list(std::make_unique<OneCycleLR>(
             o, OneCycleLROptions{.max_lr = {0.5, 0.2}, .total_steps = 40}));
       }},
      {"onecycle_linear_three_phase_adam", 40, true,
       [](Optimizer& o) {
         return list(std::make_unique<OneCycleLR>(
             o, OneCycleLROptions{.max_lr = 0.3,
                                  .epochs = 4,
                                  .steps_per_epoch = 10,
                                  .pct_start = 0.25,
                                  .anneal_strategy = AnnealStrategy::Linear,
                                  .base_momentum = {0.8, 0.85},
                                  .max_momentum = 0.9,
                                  .div_factor = 10,
                                  .final_div_factor = 100,
                                  .three_phase = true}));
       }},
      {"warmup_then_cosine", 35, false,
       [](Optimizer& o) {
         auto warmup = std::make_unique<LinearLR>(o, 0.1, 1.0, 5);
         return list(std::move(warmup), std::make_unique<CosineAnnealingLR>(o, 30));
       }},
      {"plateau_min_rel", 40, false,
       [](Optimizer& o) {
         return list(std::make_unique<ReduceLROnPlateau>(
             o, ReduceLROnPlateauOptions{
                    .factor = 0.5, .patience = 2, .cooldown = 1, .min_lr = {0.01, 0.02}}));
       }},
      {"plateau_max_abs", 40, false,
       [](Optimizer& o) {
         return list(std::make_unique<ReduceLROnPlateau>(
             o, ReduceLROnPlateauOptions{.mode = PlateauMode::Max,
                                         .factor = 0.2,
                                         .patience = 1,
                                         .threshold = 0.05,
                                         .threshold_mode = ThresholdMode::Abs}));
       }},
  };
  return cases;
}

// Steps every scheduler once, ReduceLROnPlateau with the case's metric for step `step`.
void step_all(const SchedulerCase& c, Schedulers& schedulers, int step) {
  for (auto& scheduler : schedulers) {
    if (auto* plateau = dynamic_cast<ReduceLROnPlateau*>(scheduler.get())) {
      plateau->step(fixture().at("sched/" + c.name + "/metric").data()[step]);
    } else {
      dynamic_cast<LRScheduler&>(*scheduler).step();
    }
  }
}

// Compares the groups' values with row `row` of the fixture's [steps + 1, 2] tensor.
void compare_row(const std::vector<double>& actual, const Tensor& expected, int row,
                 double& worst) {
  for (int g = 0; g < 2; ++g) {
    const double reference = expected.data()[row * 2 + g];
    worst = std::max(worst, std::abs(actual[g] - reference) / std::abs(reference));
    CHECK(actual[g] == Approx(reference).epsilon(1e-6));
  }
}

std::vector<double> run_sequence(const SchedulerCase& c, int resume_at = -1,
                                 const std::string& path = "") {
  std::vector<double> lrs;
  auto driven = std::make_unique<Driven>(c.adam);
  Schedulers schedulers = c.build(*driven->optimizer);
  for (int step = 0; step < c.steps; ++step) {
    if (step == resume_at) {
      save_state(path, *driven->optimizer, schedulers.size() == 1 ? schedulers[0].get() : nullptr);
      driven = std::make_unique<Driven>(c.adam);
      schedulers = c.build(*driven->optimizer);
      load_state(path, *driven->optimizer, schedulers.size() == 1 ? schedulers[0].get() : nullptr);
    }
    step_all(c, schedulers, step);
    for (double lr : driven->lrs()) lrs.push_back(lr);
    for (double momentum : driven->momenta()) lrs.push_back(momentum);
  }
  return lrs;
}

}  // namespace

TEST_CASE("the C++ scheduler cases are exactly the fixture's cases", "[schedulers]") {
  const auto cases = nlohmann::json::parse(fixture().metadata.at("cases"));
  std::vector<std::string> fixture_names, names;
  for (const auto& c : cases.at("schedulers")) fixture_names.push_back(c.at("name"));
  for (const SchedulerCase& c : scheduler_cases()) names.push_back(c.name);
  CHECK(names == fixture_names);
}

TEST_CASE("every scheduler's lr sequence matches PyTorch's within 1e-6 relative", "[schedulers]") {
  for (const SchedulerCase& c : scheduler_cases()) {
    INFO("case " << c.name);
    Driven driven(c.adam);
    Schedulers schedulers = c.build(*driven.optimizer);
    const Tensor lrs = fixture().at("sched/" + c.name + "/lr");
    REQUIRE(lrs.shape() == Shape{c.steps + 1, 2});
    const bool has_momentum = fixture().contains("sched/" + c.name + "/momentum");
    double worst = 0;
    for (int row = 0; row <= c.steps; ++row) {
      INFO("after step " << row);
      if (row > 0) step_all(c, schedulers, row - 1);
      compare_row(driven.lrs(), lrs, row, worst);
      CHECK(schedulers.back()->get_last_lr() == driven.lrs());
      if (has_momentum) {
        compare_row(driven.momenta(), fixture().at("sched/" + c.name + "/momentum"), row, worst);
      }
    }
    if (std::getenv("EMBER_OPTIM_REPORT")) {
      std::cout << "scheduler parity " << c.name << ": worst relative error " << worst << "\n";
    }
  }
}

TEST_CASE("a scheduler resumed from save_state continues the same sequence bit for bit",
          "[schedulers]") {
  const std::string path =
      (std::filesystem::temp_directory_path() /
       ("ember_schedulers_test_" + std::to_string(::getpid()) + ".safetensors"))
          .string();
  for (const SchedulerCase& c : scheduler_cases()) {
    if (c.name == "warmup_then_cosine") continue;  // two schedulers: save_state takes one
    INFO("case " << c.name);
    const std::vector<double> uninterrupted = run_sequence(c);
    for (int resume_at : {0, 1, 17}) {
      INFO("resumed before step " << resume_at);
      CHECK(run_sequence(c, resume_at, path) == uninterrupted);
    }
  }
  std::filesystem::remove(path);
}

TEST_CASE("schedulers report last_epoch, base lrs and the optimizer's initial_lr", "[schedulers]") {
  Driven driven;
  StepLR scheduler(*driven.optimizer, 2, 0.5);
  CHECK(scheduler.name() == "StepLR");
  CHECK(scheduler.last_epoch() == 0);
  CHECK(scheduler.base_lrs() == std::vector<double>{0.1, 0.05});
  CHECK(driven.optimizer->initial_lr(1) == 0.05);
  scheduler.step();
  scheduler.step();
  CHECK(scheduler.last_epoch() == 2);
  CHECK(scheduler.get_last_lr() == std::vector<double>{0.05, 0.025});
  // A second scheduler starts from the initial lrs, not the current ones (as in PyTorch).
  ExponentialLR second(*driven.optimizer, 0.5);
  CHECK(second.base_lrs() == std::vector<double>{0.1, 0.05});
}

TEST_CASE("CosineAnnealingLR's recursive form follows the closed form", "[schedulers]") {
  Driven driven;
  CosineAnnealingLR scheduler(*driven.optimizer, 7, 0.01);
  for (int epoch = 1; epoch < 40; ++epoch) {
    scheduler.step();
    const double closed = 0.01 + (0.1 - 0.01) * (1 + std::cos(std::numbers::pi * epoch / 7)) / 2;
    CHECK(driven.optimizer->lr(0) == Approx(closed).epsilon(1e-9).margin(1e-12));
  }
}

TEST_CASE("ReduceLROnPlateau tracks the best metric, bad epochs and cooldown", "[schedulers]") {
  Driven driven;
  ReduceLROnPlateau plateau(*driven.optimizer, {.patience = 1, .cooldown = 2});
  CHECK(plateau.best() == std::numeric_limits<double>::infinity());
  CHECK(plateau.get_last_lr() == std::vector<double>{0.1, 0.05});
  plateau.step(1.0);
  CHECK(plateau.best() == 1.0);
  plateau.step(1.0);
  CHECK(plateau.num_bad_epochs() == 1);
  plateau.step(1.0);  // a second bad epoch > patience: reduce, then cool down
  CHECK(driven.optimizer->lr(0) == Approx(0.01));
  CHECK(plateau.in_cooldown());
  CHECK(plateau.num_bad_epochs() == 0);
  plateau.step(1.0);
  plateau.step(1.0);
  CHECK_FALSE(plateau.in_cooldown());
  CHECK(plateau.last_epoch() == 5);
}

TEST_CASE("OneCycleLR runs without momentum cycling on an optimizer without momentum",
          "[schedulers]") {
  const Tensor w = zeros({2}, true);
  Adagrad adagrad({w});
  OneCycleLR scheduler(adagrad, {.max_lr = 1.0, .total_steps = 10, .cycle_momentum = false});
  CHECK(adagrad.lr(0) == Approx(1.0 / 25));  // max_lr / div_factor
  for (int step = 0; step < 9; ++step) scheduler.step();
  CHECK(adagrad.lr(0) == Approx(1.0 / 25 / 1e4));  // then / final_div_factor at the last step
}

// -- errors ----------------------------------------------------------------------------------

TEST_CASE("schedulers refuse invalid arguments", "[schedulers]") {
  Driven driven;
  Optimizer& o = *driven.optimizer;
  CHECK_THROWS_WITH(StepLR(o, 0), Contains("StepLR: step_size must be positive, got 0"));
  CHECK_THROWS_WITH(CosineAnnealingLR(o, -3),
                    Contains("CosineAnnealingLR: T_max must be positive, got -3"));
  CHECK_THROWS_WITH(CosineAnnealingWarmRestarts(o, 0),
                    Contains("CosineAnnealingWarmRestarts: expected a positive T_0, got 0"));
  CHECK_THROWS_WITH(CosineAnnealingWarmRestarts(o, 5, 0),
                    Contains("CosineAnnealingWarmRestarts: expected T_mult >= 1, got 0"));
  CHECK_THROWS_WITH(LinearLR(o, 0.0), Contains("LinearLR: start_factor must be in (0, 1], got 0"));
  CHECK_THROWS_WITH(LinearLR(o, 1.5), Contains("got 1.5"));
  CHECK_THROWS_WITH(LinearLR(o, 0.5, -0.1),
                    Contains("LinearLR: end_factor must be in [0, 1], got -0.1"));
  CHECK_THROWS_WITH(LinearLR(o, 0.5, 1.0, -1),
                    Contains("LinearLR: total_iters must be >= 0, got -1"));
  CHECK_THROWS_WITH(ReduceLROnPlateau(o, {.factor = 1.0}),
                    Contains("ReduceLROnPlateau: factor must be in [0, 1), got 1"));
  CHECK_THROWS_WITH(ReduceLROnPlateau(o, {.patience = -1}),
                    Contains("ReduceLROnPlateau: patience must be >= 0, got -1"));
  CHECK_THROWS_WITH(ReduceLROnPlateau(o, {.cooldown = -2}),
                    Contains("ReduceLROnPlateau: cooldown must be >= 0, got -2"));
  CHECK_THROWS_WITH(ReduceLROnPlateau(o, {.min_lr = {0.1, 0.2, 0.3}}),
                    Contains("ReduceLROnPlateau: expected 2 values for min_lr (one per "
                             "parameter group) or a single one, got 3"));
  CHECK(o.lr(0) == 0.1);
  CHECK_FALSE(o.initial_lr(0).has_value());
}

TEST_CASE("OneCycleLR refuses invalid arguments, leaving the optimizer as it was", "[schedulers]") {
  Driven driven;
  Optimizer& o = *driven.optimizer;
  CHECK_THROWS_WITH(OneCycleLR(o, {.max_lr = 0.1}),
                    Contains("OneCycleLR: define either total_steps or (epochs and "
                             "steps_per_epoch)"));
  CHECK_THROWS_WITH(OneCycleLR(o, {.max_lr = 0.1, .total_steps = -5}),
                    Contains("OneCycleLR: expected a positive total_steps, got -5"));
  CHECK_THROWS_WITH(OneCycleLR(o, {.max_lr = 0.1, .epochs = -1, .steps_per_epoch = 10}),
                    Contains("OneCycleLR: expected a positive epochs, got -1"));
  CHECK_THROWS_WITH(OneCycleLR(o, {.max_lr = 0.1, .epochs = 2}),
                    Contains("OneCycleLR: expected a positive steps_per_epoch, got 0"));
  CHECK_THROWS_WITH(OneCycleLR(o, {.max_lr = 0.1, .total_steps = 10, .pct_start = 1.5}),
                    Contains("OneCycleLR: expected pct_start between 0 and 1, got 1.5"));
  CHECK_THROWS_WITH(OneCycleLR(o, {.total_steps = 10}), Contains("OneCycleLR: max_lr is required"));
  CHECK_THROWS_WITH(OneCycleLR(o, {.max_lr = {0.1, 0.2, 0.3}, .total_steps = 10}),
                    Contains("OneCycleLR: expected 2 values for max_lr"));
  CHECK_THROWS_WITH(
      OneCycleLR(o, {.max_lr = 0.1, .total_steps = 10, .base_momentum = {0.8, 0.8, 0.8}}),
      Contains("OneCycleLR: expected 2 values for base_momentum"));
  CHECK_THROWS_WITH(OneCycleLR(o, {.max_lr = 0.1, .total_steps = 10, .max_momentum = {}}),
                    Contains("OneCycleLR: expected 2 values for max_momentum"));
  // pct_start · total_steps = 1: the warm-up phase has no steps (PyTorch divides by zero).
  CHECK_THROWS_WITH(OneCycleLR(o, {.max_lr = 0.1, .total_steps = 2, .pct_start = 0.5}),
                    Contains("OneCycleLR: phase 1 of the schedule has zero length (total_steps "
                             "2, pct_start 0.5)"));
  CHECK_THROWS_WITH(OneCycleLR(o, {.max_lr = {0.1, -0.1}, .total_steps = 10}),
                    Contains("OneCycleLR: max_lr must be >= 0, got -0.1"));
  CHECK(o.lr(0) == 0.1);
  CHECK(o.option(0, "momentum") == 0.9);
  CHECK_FALSE(o.initial_lr(0).has_value());

  const Tensor w = zeros({2}, true);
  Adagrad adagrad({w});
  CHECK_THROWS_WITH(OneCycleLR(adagrad, {.max_lr = 0.1, .total_steps = 10}),
                    Contains("OneCycleLR: cycle_momentum needs an optimizer with a momentum "
                             "(or Adam's beta1); Adagrad has neither"));
}

TEST_CASE("OneCycleLR refuses to step beyond total_steps, changing nothing", "[schedulers]") {
  Driven driven;
  OneCycleLR scheduler(*driven.optimizer, {.max_lr = 0.1, .total_steps = 5});
  for (int step = 0; step < 5; ++step) scheduler.step();
  const double lr = driven.optimizer->lr(0);
  CHECK_THROWS_WITH(scheduler.step(),
                    Contains("OneCycleLR: tried to step 6 times; the specified number of total "
                             "steps is 5"));
  CHECK(scheduler.last_epoch() == 5);
  CHECK(driven.optimizer->lr(0) == lr);
}

TEST_CASE("schedulers write lrs unchecked, as PyTorch's: linear OneCycleLR ends below zero",
          "[schedulers]") {
  Driven driven;
  OneCycleLR scheduler(
      *driven.optimizer,
      {.max_lr = 0.1, .total_steps = 10, .anneal_strategy = AnnealStrategy::Linear});
  for (int step = 0; step < 10; ++step) scheduler.step();
  CHECK(driven.optimizer->lr(0) < 0);  // step 10 of 10 extrapolates past the final lr
}

TEST_CASE("load_state_dict refuses another scheduler's state and missing or unknown values",
          "[schedulers]") {
  Driven driven;
  CosineAnnealingWarmRestarts scheduler(*driven.optimizer, 5);
  scheduler.step();
  const SchedulerState good = scheduler.state_dict();
  CHECK(good.values.at("T_cur") == 1);
  Driven other;
  CosineAnnealingWarmRestarts fresh(*other.optimizer, 5);
  SchedulerState state = good;
  state.scheduler = "StepLR";
  CHECK_THROWS_WITH(fresh.load_state_dict(state),
                    Contains("CosineAnnealingWarmRestarts: load_state_dict: the state is from "
                             "StepLR, not from CosineAnnealingWarmRestarts"));
  state = good;
  state.values.erase("T_i");
  CHECK_THROWS_WITH(fresh.load_state_dict(state), Contains("missing value \"T_i\""));
  state = good;
  state.values["base_lr.2"] = 0.1;
  CHECK_THROWS_WITH(fresh.load_state_dict(state), Contains("unknown value \"base_lr.2\""));
  CHECK(fresh.last_epoch() == 0);
  fresh.load_state_dict(good);
  CHECK(fresh.last_epoch() == 1);
}
