// Optimizers: PyTorch parity step by step, resuming from a saved state bit for bit, the
// behaviours users rely on (skipped parameters, versions, zero_grad, option access), gradient
// clipping, and every error.
//
// tests/reference/generate_optim.py trained a small tanh network with each configuration in
// PyTorch 1.13 and stored every parameter after every step (see its docstring). Each case
// below builds the same configuration in ember, trains the same 10 steps and compares.
// Set EMBER_OPTIM_REPORT=1 to print the largest error of each case.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <type_traits>

#include <ember/core/tensor_impl.h>
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

constexpr int kSteps = 10;
const std::vector<std::string> kParamNames = {"w1", "b1", "w2", "b2", "unused"};

// The fixture's network: loss = mean((tanh(x·w1 + b1)·w2 + b2 - y)²); `unused` gets no
// gradient. Groups: [w1, b1] and [w2, b2, unused].
struct TinyNet {
  std::vector<Tensor> params;  // w1 [5, 3], b1 [3], w2 [3, 2], b2 [2], unused [4]
  Tensor x = fixture().at("model/x"), y = fixture().at("model/y");

  TinyNet() {
    for (const std::string& name : kParamNames) {
      params.push_back(clone(fixture().at("model/" + name)).requires_grad_(true));
    }
  }
  explicit TinyNet(const std::vector<Tensor>& values) {
    for (const Tensor& value : values) params.push_back(clone(value.detach()).requires_grad_(true));
  }

  std::vector<Tensor> first_group() const { return {params[0], params[1]}; }
  std::vector<Tensor> second_group() const { return {params[2], params[3], params[4]}; }

  Tensor loss() const {
    const Tensor hidden = tanh(matmul(x, params[0]) + params[1]);
    return (matmul(hidden, params[2]) + params[3] - y).pow(2.f).mean();
  }
};

// What a case trains with: an optimizer, maybe a scheduler stepped after it, and maybe a
// clipping of the gradients before it (returning the total norm for clip_grad_norm_).
struct Setup {
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<LRScheduler> scheduler;
  std::function<std::optional<float>(const std::vector<Tensor>&)> clip;
};

template <class Options>
Options with_lr(Options options, double lr) {
  options.lr = lr;
  return options;
}

// The two groups of the fixture: the first with `options`, the second with `second` (or
// `options` when not given).
template <class OptimizerType, class Options>
Setup two_groups(const TinyNet& net, const Options& options,
                 std::type_identity_t<std::optional<Options>> second = std::nullopt) {
  std::vector<ParamGroup<Options>> groups{{net.first_group(), std::nullopt},
                                          {net.second_group(), second}};
  return Setup{std::make_unique<OptimizerType>(std::move(groups), options), nullptr, nullptr};
}

struct TrainingCase {
  std::string name;
  std::function<Setup(const TinyNet&)> build;
};

// The C++ twin of generate_optim.py's TRAINING_CASES, in the same order.
const std::vector<TrainingCase>& training_cases() {
  static const std::vector<TrainingCase> cases = {
      {"sgd_nesterov_weight_decay",
       [](const TinyNet& net) {
         const SGDOptions options{
             .lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true};
         return two_groups<SGD>(net, options, with_lr(options, 0.05));
       }},
      {"sgd_nesterov_weight_decay_steplr",
       [](const TinyNet& net) {
         const SGDOptions options{
             .lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true};
         Setup setup = two_groups<SGD>(net, options, with_lr(options, 0.05));
         setup.scheduler = std::make_unique<StepLR>(*setup.optimizer, 3, 0.5);
         return setup;
       }},
      {"sgd_dampening",
       [](const TinyNet& net) {
         return two_groups<SGD>(net, SGDOptions{.lr = 0.05, .momentum = 0.8, .dampening = 0.3});
       }},
      {"sgd_dampening_onecycle",
       [](const TinyNet& net) {
         Setup setup =
             two_groups<SGD>(net, SGDOptions{.lr = 0.05, .momentum = 0.8, .dampening = 0.3});
         setup.scheduler = std::make_unique<OneCycleLR>(
             *setup.optimizer, OneCycleLROptions{.max_lr = {0.2, 0.1}, .total_steps = 10});
         return setup;
       }},
      {"sgd_maximize",
       [](const TinyNet& net) {
         return two_groups<SGD>(net, SGDOptions{.lr = 0.02, .weight_decay = 0.1, .maximize = true});
       }},
      {"adam", [](const TinyNet& net) { return two_groups<Adam>(net, AdamOptions{.lr = 0.01}); }},
      {"adam_amsgrad_weight_decay",
       [](const TinyNet& net) {
         const AdamOptions options{
             .lr = 0.01, .betas = {0.8, 0.99}, .weight_decay = 0.1, .amsgrad = true};
         return two_groups<Adam>(net, options, with_lr(options, 0.02));
       }},
      {"adam_onecycle",
       [](const TinyNet& net) {
         Setup setup = two_groups<Adam>(net, AdamOptions{.lr = 0.01});
         setup.scheduler = std::make_unique<OneCycleLR>(
             *setup.optimizer, OneCycleLROptions{.max_lr = 0.05, .total_steps = 12});
         return setup;
       }},
      {"adamw",
       [](const TinyNet& net) { return two_groups<AdamW>(net, AdamWOptions{.lr = 0.01}); }},
      {"adamw_amsgrad_maximize_cosine",
       [](const TinyNet& net) {
         const AdamWOptions options{
             .lr = 0.01, .weight_decay = 0.1, .amsgrad = true, .maximize = true};
         Setup setup = two_groups<AdamW>(net, options, with_lr(options, 0.005));
         setup.scheduler = std::make_unique<CosineAnnealingLR>(*setup.optimizer, 4, 0.001);
         return setup;
       }},
      {"rmsprop_centered_momentum",
       [](const TinyNet& net) {
         return two_groups<RMSprop>(
             net,
             RMSpropOptions{.lr = 0.01, .weight_decay = 0.01, .momentum = 0.9, .centered = true});
       }},
      {"rmsprop_centered_momentum_linearlr",
       [](const TinyNet& net) {
         const RMSpropOptions options{
             .lr = 0.01, .weight_decay = 0.01, .momentum = 0.9, .centered = true};
         Setup setup = two_groups<RMSprop>(net, options, with_lr(options, 0.003));
         setup.scheduler = std::make_unique<LinearLR>(*setup.optimizer, 0.25, 1.0, 4);
         return setup;
       }},
      {"rmsprop_maximize",
       [](const TinyNet& net) {
         return two_groups<RMSprop>(net,
                                    RMSpropOptions{.lr = 0.001, .alpha = 0.9, .maximize = true});
       }},
      {"adagrad_lr_decay",
       [](const TinyNet& net) {
         return two_groups<Adagrad>(net, AdagradOptions{.lr = 0.1,
                                                        .lr_decay = 0.05,
                                                        .weight_decay = 0.01,
                                                        .initial_accumulator_value = 0.1});
       }},
      {"adagrad_lr_decay_exponentiallr",
       [](const TinyNet& net) {
         const AdagradOptions options{
             .lr = 0.1, .lr_decay = 0.05, .weight_decay = 0.01, .initial_accumulator_value = 0.1};
         Setup setup = two_groups<Adagrad>(net, options, with_lr(options, 0.2));
         setup.scheduler = std::make_unique<ExponentialLR>(*setup.optimizer, 0.8);
         return setup;
       }},
      {"sgd_clip_norm",
       [](const TinyNet& net) {
         Setup setup = two_groups<SGD>(net, SGDOptions{.lr = 0.1, .momentum = 0.5});
         setup.clip = [](const std::vector<Tensor>& params) -> std::optional<float> {
           return clip_grad_norm_(params, 0.05);
         };
         return setup;
       }},
      {"sgd_clip_norm_inf",
       [](const TinyNet& net) {
         Setup setup = two_groups<SGD>(net, SGDOptions{.lr = 0.1});
         setup.clip = [](const std::vector<Tensor>& params) -> std::optional<float> {
           return clip_grad_norm_(params, 0.02, std::numeric_limits<double>::infinity());
         };
         return setup;
       }},
      {"sgd_clip_norm_p3",
       [](const TinyNet& net) {
         Setup setup = two_groups<SGD>(net, SGDOptions{.lr = 0.1});
         setup.clip = [](const std::vector<Tensor>& params) -> std::optional<float> {
           return clip_grad_norm_(params, 0.03, 3.0);
         };
         return setup;
       }},
      {"sgd_clip_value",
       [](const TinyNet& net) {
         Setup setup = two_groups<SGD>(net, SGDOptions{.lr = 0.1});
         setup.clip = [](const std::vector<Tensor>& params) -> std::optional<float> {
           clip_grad_value_(params, 0.01);
           return std::nullopt;
         };
         return setup;
       }},
  };
  return cases;
}

// One training step as generate_optim.py takes it; returns what the clipping returned.
std::optional<float> train_step(const TinyNet& net, Setup& setup) {
  setup.optimizer->zero_grad();
  net.loss().backward();
  std::optional<float> norm;
  if (setup.clip) norm = setup.clip(net.params);
  setup.optimizer->step();
  if (setup.scheduler) setup.scheduler->step();
  return norm;
}

// A value passes when |actual - expected| <= kRtol·|expected| + kAtol. Both sides are
// float32 trajectories of the same formulas, PyTorch's kernels and ember's loops rounding in
// the same order; what differs is the gradient (a GEMM summing in another order, tanh's last
// bit), a few ulps that the optimizers carry along. kAtol only covers entries that pass
// through zero, where relative error is meaningless; it is ~1 ulp of the parameters' scale.
constexpr double kRtol = 1e-5;
constexpr double kAtol = 1e-7;

struct Worst {
  double relative = 0;      // the largest |actual - expected| / |expected| where |expected| >= 0.01
  double absolute = 0;      // the largest |actual - expected|
  double relative_any = 0;  // the largest relative error, entries near zero included
};

void compare(const std::string& what, const float* actual, const float* expected, int64_t n,
             Worst& worst) {
  for (int64_t i = 0; i < n; ++i) {
    const double error = std::abs(static_cast<double>(actual[i]) - expected[i]);
    const double scale = std::abs(static_cast<double>(expected[i]));
    worst.absolute = std::max(worst.absolute, error);
    if (scale >= 0.01) worst.relative = std::max(worst.relative, error / scale);
    if (scale > 0) worst.relative_any = std::max(worst.relative_any, error / scale);
    if (!(error <= kRtol * scale + kAtol)) {
      FAIL_CHECK(what << "[" << i << "]: " << actual[i] << " vs PyTorch " << expected[i]);
    }
  }
}

void report(const std::string& name, const Worst& worst) {
  if (std::getenv("EMBER_OPTIM_REPORT")) {
    std::cout << "optim parity " << name << ": worst relative error " << worst.relative
              << " (entries >= 0.01), " << worst.relative_any << " (all), worst absolute error "
              << worst.absolute << "\n";
  }
}

// Trains `training_case` for 10 steps and compares every parameter after every step, the
// lrs used, and the total norms clipping returned, with PyTorch's.
void check_case(const TrainingCase& training_case) {
  const std::string& name = training_case.name;
  INFO("case " << name);
  TinyNet net;
  Setup setup = training_case.build(net);
  Worst worst;
  const Tensor lrs = fixture().at(name + "/lr");
  for (int step = 0; step < kSteps; ++step) {
    INFO("step " << step + 1);
    for (size_t g = 0; g < 2; ++g) {
      CHECK(setup.optimizer->lr(g) == Approx(lrs.data()[step * 2 + g]).epsilon(1e-6));
    }
    const std::optional<float> norm = train_step(net, setup);
    if (norm) {
      const Tensor expected = fixture().at(name + "/total_norm");
      compare("total_norm", &*norm, expected.data() + step, 1, worst);
    }
    for (size_t p = 0; p < kParamNames.size(); ++p) {
      const Tensor expected = fixture().at(name + "/" + kParamNames[p]);
      const int64_t n = net.params[p].numel();
      compare(kParamNames[p], net.params[p].data(), expected.data() + step * n, n, worst);
    }
  }
  report(name, worst);
}

void check_cases_of(const std::string& optimizer) {
  int checked = 0;
  for (const TrainingCase& training_case : training_cases()) {
    TinyNet net;
    if (training_case.build(net).optimizer->name() != optimizer) continue;
    check_case(training_case);
    ++checked;
  }
  CHECK(checked > 0);
}

std::vector<Tensor> values_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> values;
  for (const Tensor& p : params) values.push_back(clone(p.detach()));
  return values;
}

// A file in the temp directory, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_((std::filesystem::temp_directory_path() /
               ("ember_optim_test_" + std::to_string(::getpid()) + "_" + name))
                  .string()) {}
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The network after one step, with a gradient computed for the next.
struct Trained {
  TinyNet net;
  Adam adam{net.params, AdamOptions{.lr = 0.01, .amsgrad = true}};
  Trained() {
    net.loss().backward();
    adam.step();
    adam.zero_grad();
    net.loss().backward();
  }
};

}  // namespace

// -- parity with PyTorch ---------------------------------------------------------------------

TEST_CASE("the C++ training cases are exactly the fixture's cases", "[optim]") {
  const auto cases = nlohmann::json::parse(fixture().metadata.at("cases"));
  std::vector<std::string> fixture_names, names;
  for (const auto& c : cases.at("training")) fixture_names.push_back(c.at("name"));
  for (const TrainingCase& c : training_cases()) names.push_back(c.name);
  CHECK(names == fixture_names);
}

TEST_CASE(
    "SGD matches PyTorch step for step: nesterov, weight decay, dampening, maximize, "
    "two lrs, StepLR, OneCycleLR, clipping",
    "[optim]") {
  check_cases_of("SGD");
}

TEST_CASE("Adam matches PyTorch step for step: amsgrad, weight decay, two lrs, OneCycleLR",
          "[optim]") {
  check_cases_of("Adam");
}

TEST_CASE("AdamW matches PyTorch step for step: decoupled decay, amsgrad, maximize, cosine",
          "[optim]") {
  check_cases_of("AdamW");
}

TEST_CASE("RMSprop matches PyTorch step for step: centered, momentum, maximize, LinearLR",
          "[optim]") {
  check_cases_of("RMSprop");
}

TEST_CASE("Adagrad matches PyTorch step for step: lr_decay, initial accumulator, ExponentialLR",
          "[optim]") {
  check_cases_of("Adagrad");
}

// -- resuming --------------------------------------------------------------------------------

TEST_CASE(
    "5 steps, save, a fresh optimizer and scheduler, load, 5 steps equal 10 steps "
    "bit for bit, for every case",
    "[optim]") {
  for (const TrainingCase& training_case : training_cases()) {
    INFO("case " << training_case.name);
    TinyNet uninterrupted;
    Setup setup = training_case.build(uninterrupted);
    for (int step = 0; step < kSteps; ++step) train_step(uninterrupted, setup);

    const TempFile model_file("model.safetensors"), state_file("state.safetensors");
    {
      TinyNet first_half;
      Setup first = training_case.build(first_half);
      for (int step = 0; step < kSteps / 2; ++step) train_step(first_half, first);
      std::vector<std::pair<std::string, Tensor>> named;
      for (size_t p = 0; p < kParamNames.size(); ++p) {
        named.emplace_back(kParamNames[p], first_half.params[p]);
      }
      save_safetensors(model_file.path(), named);
      save_state(state_file.path(), *first.optimizer, first.scheduler.get());
    }
    const SafetensorsFile model = load_safetensors(model_file.path());
    std::vector<Tensor> saved;
    for (const std::string& name : kParamNames) saved.push_back(model.at(name));
    TinyNet resumed(saved);
    Setup second = training_case.build(resumed);
    load_state(state_file.path(), *second.optimizer, second.scheduler.get());
    for (int step = kSteps / 2; step < kSteps; ++step) train_step(resumed, second);

    for (size_t p = 0; p < kParamNames.size(); ++p) {
      INFO(kParamNames[p]);
      CHECK(resumed.params[p].to_vector() == uninterrupted.params[p].to_vector());
    }
    for (size_t g = 0; g < 2; ++g) {
      CHECK(second.optimizer->named_options(g) == setup.optimizer->named_options(g));
    }
    if (setup.scheduler) {
      CHECK(second.scheduler->state_dict().values == setup.scheduler->state_dict().values);
    }
  }
}

TEST_CASE("state_dict then load_state_dict into a fresh optimizer continues exactly", "[optim]") {
  TinyNet net;
  RMSprop rmsprop(net.params, {.lr = 0.01, .momentum = 0.9, .centered = true});
  for (int step = 0; step < 3; ++step) {
    rmsprop.zero_grad();
    net.loss().backward();
    rmsprop.step();
  }
  const OptimizerState state = rmsprop.state_dict();
  TinyNet copy(values_of(net.params));
  RMSprop fresh(copy.params, {.lr = 0.5});
  fresh.load_state_dict(state);
  CHECK(fresh.lr(0) == 0.01);
  auto train_step = [](const TinyNet& n, Optimizer& optimizer) {
    optimizer.zero_grad();
    n.loss().backward();
    optimizer.step();
  };
  train_step(net, rmsprop);
  train_step(copy, fresh);
  for (size_t p = 0; p < net.params.size(); ++p) {
    CHECK(copy.params[p].to_vector() == net.params[p].to_vector());
  }
}

TEST_CASE("a state dict is a snapshot: later steps do not change it", "[optim]") {
  Trained trained;
  const OptimizerState state = trained.adam.state_dict();
  const std::vector<float> exp_avg = state.params[0].buffers.at("exp_avg").to_vector();
  trained.adam.step();
  CHECK(state.params[0].step == 1);
  CHECK(state.params[0].buffers.at("exp_avg").to_vector() == exp_avg);
  CHECK(trained.adam.state(0).step == 2);
  CHECK(trained.adam.state(0).buffers.at("exp_avg").to_vector() != exp_avg);
}

TEST_CASE("the state holds PyTorch's buffer names, step counts and group options", "[optim]") {
  Trained trained;
  const OptimizerState state = trained.adam.state_dict();
  CHECK(state.optimizer == "Adam");
  REQUIRE(state.groups.size() == 1);
  CHECK(state.groups[0].num_params == 5);
  CHECK(state.groups[0].options == std::map<std::string, double>{{"lr", 0.01},
                                                                 {"beta1", 0.9},
                                                                 {"beta2", 0.999},
                                                                 {"eps", 1e-8},
                                                                 {"weight_decay", 0},
                                                                 {"amsgrad", 1},
                                                                 {"maximize", 0}});
  REQUIRE(state.params.size() == 5);
  CHECK(state.params[0].step == 1);
  std::set<std::string> names;
  for (const auto& entry : state.params[0].buffers) names.insert(entry.first);
  CHECK(names == std::set<std::string>{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"});
  CHECK(state.params[4].step == 0);  // `unused` never had a gradient
  CHECK(state.params[4].buffers.empty());
}

TEST_CASE("save_state writes buffers as tensors and numbers as exact metadata", "[optim]") {
  Trained trained;
  StepLR scheduler(trained.adam, 3);
  const TempFile file("layout.safetensors");
  save_state(file.path(), trained.adam, &scheduler);
  const SafetensorsFile saved = load_safetensors(file.path());
  CHECK(saved.metadata.at("optimizer") == "Adam");
  CHECK(saved.metadata.at("group.0.lr") == "0.01");
  CHECK(saved.metadata.at("group.0.eps") == "1e-08");
  CHECK(saved.metadata.at("group.0.initial_lr") == "0.01");
  CHECK(saved.metadata.at("param.0.step") == "1");
  CHECK(saved.metadata.at("scheduler") == "StepLR");
  CHECK(saved.metadata.at("scheduler.last_epoch") == "0");
  CHECK(saved.at("param.0.exp_avg").to_vector() ==
        trained.adam.state(0).buffers.at("exp_avg").to_vector());
  CHECK_FALSE(saved.contains("param.4.exp_avg"));
}

// -- behaviour -------------------------------------------------------------------------------

TEST_CASE("parameters without a gradient are skipped, weight decay and momentum included",
          "[optim]") {
  TinyNet net;
  SGD sgd(net.params, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.5});
  const std::vector<float> before = net.params[4].to_vector();
  const uint64_t version = net.params[4].version();
  for (int step = 0; step < 3; ++step) {
    sgd.zero_grad();
    net.loss().backward();
    sgd.step();
  }
  CHECK(net.params[4].to_vector() == before);
  CHECK(net.params[4].version() == version);
  CHECK(sgd.state(4).step == 0);
  CHECK(sgd.state(4).buffers.empty());
  CHECK(sgd.state(0).step == 3);
}

TEST_CASE("step updates each parameter in place and bumps its version exactly once", "[optim]") {
  for (const TrainingCase& training_case : training_cases()) {
    INFO("case " << training_case.name);
    TinyNet net;
    Setup setup = training_case.build(net);
    const Tensor alias = net.params[0];
    net.loss().backward();
    const uint64_t version = net.params[0].version();
    const std::vector<float> before = net.params[0].to_vector();
    setup.optimizer->step();
    CHECK(net.params[0].version() == version + 1);
    CHECK(alias.to_vector() != before);  // the same storage was updated
  }
}

TEST_CASE("a graph saved before step refuses to backprop through the changed parameter",
          "[optim]") {
  TinyNet net;
  Adam adam(net.params);
  const Tensor loss = net.loss();
  loss.backward(/*grad_output=*/{}, /*retain_graph=*/true);
  adam.step();
  CHECK_THROWS_WITH(loss.backward(), Contains("modified by an in-place operation"));
}

TEST_CASE("step works while grad mode is on and records nothing", "[optim]") {
  TinyNet net;
  SGD sgd(net.params, {.lr = 0.1});
  net.loss().backward();
  REQUIRE(grad_enabled());
  sgd.step();
  CHECK(grad_enabled());
  CHECK(net.params[0].is_leaf());
  CHECK(net.params[0].requires_grad());
}

TEST_CASE("zero_grad sets every gradient undefined, like set_to_none=True", "[optim]") {
  TinyNet net;
  Adam adam(net.params);
  net.loss().backward();
  REQUIRE(net.params[0].grad().defined());
  adam.zero_grad();
  for (const Tensor& p : net.params) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("optimizers take a module's parameters and fit a line", "[optim]") {
  manual_seed(0);
  nn::Linear line(1, 1);
  const Tensor x = tensor({0.f, 1.f, 2.f, 3.f}, {4, 1});
  const Tensor y = x * 2.f + 1.f;
  Adam adam(line.parameters(), {.lr = 0.1});
  for (int step = 0; step < 500; ++step) {
    adam.zero_grad();
    (line(x) - y).pow(2.f).mean().backward();
    adam.step();
  }
  CHECK(line.weight.item() == Approx(2.f).margin(1e-3));
  CHECK(line.bias.item() == Approx(1.f).margin(1e-3));
}

TEST_CASE("defaults are PyTorch 1.13's", "[optim]") {
  TinyNet net;
  CHECK(Adam(net.params).named_options(0) == std::map<std::string, double>{{"lr", 1e-3},
                                                                           {"beta1", 0.9},
                                                                           {"beta2", 0.999},
                                                                           {"eps", 1e-8},
                                                                           {"weight_decay", 0},
                                                                           {"amsgrad", 0},
                                                                           {"maximize", 0}});
  CHECK(AdamW(net.params).option(0, "weight_decay") == 1e-2);
  CHECK(AdamW(net.params).option(0, "lr") == 1e-3);
  CHECK(RMSprop(net.params).named_options(0) == std::map<std::string, double>{{"lr", 1e-2},
                                                                              {"alpha", 0.99},
                                                                              {"eps", 1e-8},
                                                                              {"weight_decay", 0},
                                                                              {"momentum", 0},
                                                                              {"centered", 0},
                                                                              {"maximize", 0}});
  CHECK(Adagrad(net.params).named_options(0) ==
        std::map<std::string, double>{{"lr", 1e-2},
                                      {"lr_decay", 0},
                                      {"weight_decay", 0},
                                      {"initial_accumulator_value", 0},
                                      {"eps", 1e-10},
                                      {"maximize", 0}});
  CHECK(SGD(net.params, {.lr = 0.1}).named_options(0) ==
        std::map<std::string, double>{{"lr", 0.1},
                                      {"momentum", 0},
                                      {"dampening", 0},
                                      {"weight_decay", 0},
                                      {"nesterov", 0},
                                      {"maximize", 0}});
}

TEST_CASE("groups carry their own options, and groups without options take the defaults",
          "[optim]") {
  TinyNet net;
  Adam adam({{net.first_group()}, {net.second_group(), AdamOptions{.lr = 0.5, .amsgrad = true}}},
            {.lr = 0.01});
  REQUIRE(adam.num_param_groups() == 2);
  CHECK(adam.num_params() == 5);
  CHECK(adam.params(1).size() == 3);
  CHECK(adam.options(0).lr == 0.01);
  CHECK_FALSE(adam.options(0).amsgrad);
  CHECK(adam.options(1).lr == 0.5);
  CHECK(adam.options(1).amsgrad);
  CHECK(adam.defaults().lr == 0.01);
}

TEST_CASE("options can be read and changed by name or as a struct, and are validated", "[optim]") {
  TinyNet net;
  SGD sgd(net.params, {.lr = 0.1});
  CHECK(sgd.option_names() == std::vector<std::string>{"lr", "momentum", "dampening",
                                                       "weight_decay", "nesterov", "maximize"});
  CHECK(sgd.has_option("momentum"));
  CHECK_FALSE(sgd.has_option("beta1"));
  sgd.set_lr(0, 0.25);
  CHECK(sgd.lr(0) == 0.25);
  sgd.set_named_options(0, {{"momentum", 0.9}, {"nesterov", 1}});
  CHECK(sgd.options(0).nesterov);
  SGDOptions options = sgd.options(0);
  options.weight_decay = 0.5;
  sgd.set_options(0, options);
  CHECK(sgd.option(0, "weight_decay") == 0.5);
  CHECK_FALSE(sgd.initial_lr(0).has_value());
  sgd.set_initial_lr(0, 0.3);
  CHECK(sgd.initial_lr(0) == 0.3);
}

TEST_CASE("add_param_group adds parameters with their own or the default options", "[optim]") {
  TinyNet net;
  SGD sgd(net.first_group(), {.lr = 0.1, .momentum = 0.9});
  sgd.add_param_group({{net.params[2]}});
  sgd.add_param_group({{net.params[3]}, SGDOptions{.lr = 0.01}});
  REQUIRE(sgd.num_param_groups() == 3);
  CHECK(sgd.options(1).momentum == 0.9);
  CHECK(sgd.options(2).lr == 0.01);
  CHECK(sgd.num_params() == 4);
  net.loss().backward();
  sgd.step();
  CHECK(sgd.state(3).step == 1);
}

// -- gradient clipping -----------------------------------------------------------------------

TEST_CASE("clip_grad_norm_ scales all gradients by max_norm / (total norm + 1e-6)", "[optim]") {
  const Tensor a = tensor({3.f, 0.f}, true), b = tensor({0.f, 4.f}, true);
  a.set_grad(tensor({3.f, 0.f}));
  b.set_grad(tensor({0.f, -4.f}));
  const Tensor no_grad = tensor({1.f}, true);
  CHECK(clip_grad_norm_({a, b, no_grad}, 1.0) == 5.f);
  CHECK(a.grad().to_vector()[0] == Approx(3.f / (5.f + 1e-6f)));
  CHECK(b.grad().to_vector()[1] == Approx(-4.f / (5.f + 1e-6f)));
  CHECK_FALSE(no_grad.grad().defined());
}

TEST_CASE("clip_grad_norm_ leaves small gradients alone and returns the norm", "[optim]") {
  const Tensor a = tensor({1.f, 1.f}, true);
  a.set_grad(tensor({0.3f, -0.4f}));
  CHECK(clip_grad_norm_({a}, 10.0) == Approx(0.5f));
  CHECK(a.grad().to_vector() == std::vector<float>{0.3f, -0.4f});
  CHECK(clip_grad_norm_({a}, 10.0, std::numeric_limits<double>::infinity()) == 0.4f);
  CHECK(clip_grad_norm_({a}, 10.0, 1.0) == Approx(0.7f));
  CHECK(clip_grad_norm_({tensor({1.f}, true)}, 1.0) == 0.f);  // no gradients at all
}

TEST_CASE("clip_grad_norm_ scales by a non-finite norm unless error_if_nonfinite", "[optim]") {
  const Tensor a = tensor({1.f, 1.f}, true);
  a.set_grad(tensor({std::numeric_limits<float>::infinity(), 1.f}));
  CHECK_THROWS_WITH(clip_grad_norm_({a}, 1.0, 2.0, true),
                    Contains("clip_grad_norm_: the total norm of order 2 of the gradients is inf"));
  CHECK(a.grad().to_vector()[1] == 1.f);  // unchanged when it throws
  CHECK(std::isinf(clip_grad_norm_({a}, 1.0)));
  CHECK(a.grad().to_vector()[1] == 0.f);  // scaled by 1 / inf, as PyTorch does
}

TEST_CASE("clip_grad_value_ clamps each gradient element, NaN included as PyTorch", "[optim]") {
  const Tensor a = tensor({1.f, 1.f, 1.f, 1.f}, true);
  a.set_grad(tensor({-2.f, 0.05f, 3.f, std::nanf("")}));
  clip_grad_value_({a, tensor({1.f}, true)}, 0.1);
  const std::vector<float> clipped = a.grad().to_vector();
  CHECK(clipped[0] == -0.1f);
  CHECK(clipped[1] == 0.05f);
  CHECK(clipped[2] == 0.1f);
  CHECK(std::isnan(clipped[3]));
}

TEST_CASE("clipping gradients that require grad (create_graph) works under NoGradGuard",
          "[optim]") {
  const Tensor x = tensor({3.f, 4.f}, true);
  (x * x).sum().backward({}, false, /*create_graph=*/true);
  REQUIRE(x.grad().requires_grad());
  CHECK(clip_grad_norm_({x}, 1.0) == Approx(10.f));
  clip_grad_value_({x}, 0.1);
  CHECK(x.grad().to_vector() == std::vector<float>{0.1f, 0.1f});
  x.set_grad(Tensor());  // the gradient's graph references x: break the cycle (chapter 2)
}

// -- errors ----------------------------------------------------------------------------------

TEST_CASE("optimizers refuse empty, undefined, non-leaf, non-CPU and twice-grouped parameters",
          "[optim]") {
  TinyNet net;
  CHECK_THROWS_WITH(Adam(std::vector<Tensor>{}), Contains("Adam: got an empty parameter list"));
  const std::vector<ParamGroup<AdamOptions>> empty_group{{std::vector<Tensor>{}}};
  CHECK_THROWS_WITH(Adam(empty_group), Contains("Adam: got an empty parameter list"));
  CHECK_THROWS_WITH(SGD({net.params[0], Tensor()}, {.lr = 0.1}),
                    Contains("SGD: parameter 1 of group 0 is undefined"));
  CHECK_THROWS_WITH(SGD({net.params[0] * 2.f}, {.lr = 0.1}),
                    Contains("SGD: parameter 0 of group 0 is not a leaf (grad_fn=MulBackward0)"));
  Tensor on_cuda = tensor({1.f}, true);
  on_cuda.impl()->device = Device::CUDA;  // stands in for a CUDA tensor without touching it
  CHECK_THROWS_WITH(SGD({on_cuda}, {.lr = 0.1}), Contains("is not on the CPU"));
  CHECK_THROWS_WITH(Adam({{{net.params[0]}}, {{net.params[1], net.params[0]}}}),
                    Contains("Adam: parameter 1 of group 1 is already in group 0 (a parameter "
                             "may belong to one group only)"));
}

TEST_CASE("a parameter listed twice in one group (a shared weight) is updated once", "[optim]") {
  const Tensor w = tensor({1.f, 2.f}, true);
  SGD sgd({w, w}, {.lr = 0.5});
  CHECK(sgd.num_params() == 1);
  w.set_grad(tensor({1.f, 1.f}));
  sgd.step();
  CHECK(w.to_vector() == std::vector<float>{0.5f, 1.5f});
}

TEST_CASE(
    "SGD refuses a missing or negative lr, negative momentum or weight decay, and "
    "nesterov without momentum or with dampening",
    "[optim]") {
  TinyNet net;
  CHECK_THROWS_WITH(SGD(net.params, {}), Contains("SGD: lr is required"));
  CHECK_THROWS_WITH(SGD(net.params, {.lr = -0.1}),
                    Contains("SGD: invalid learning rate -0.1 (must be >= 0)"));
  CHECK_THROWS_WITH(SGD(net.params, {.lr = std::nan("")}), Contains("SGD: lr is required"));
  CHECK_THROWS_WITH(SGD(net.params, {.lr = 0.1, .momentum = -0.5}),
                    Contains("SGD: invalid momentum -0.5"));
  CHECK_THROWS_WITH(SGD(net.params, {.lr = 0.1, .weight_decay = -1}),
                    Contains("SGD: invalid weight_decay -1"));
  CHECK_THROWS_WITH(SGD(net.params, {.lr = 0.1, .nesterov = true}),
                    Contains("SGD: Nesterov momentum requires a momentum and zero dampening "
                             "(momentum 0, dampening 0)"));
  CHECK_THROWS_WITH(
      SGD(net.params, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
      Contains("(momentum 0.9, dampening 0.1)"));
  CHECK_THROWS_WITH(
      SGD({{net.first_group()}, {net.second_group(), SGDOptions{.lr = -2}}}, {.lr = 0.1}),
      Contains("SGD: invalid learning rate -2"));
}

TEST_CASE("Adam and AdamW refuse negative lr, eps or weight decay and betas outside 0 to 1",
          "[optim]") {
  TinyNet net;
  CHECK_THROWS_WITH(Adam(net.params, {.lr = -1}), Contains("Adam: invalid learning rate -1"));
  CHECK_THROWS_WITH(Adam(net.params, {.eps = -1e-8}), Contains("Adam: invalid epsilon -1e-08"));
  CHECK_THROWS_WITH(Adam(net.params, {.betas = {1.0, 0.999}}),
                    Contains("Adam: invalid beta parameter at index 0 1 (must be in [0, 1))"));
  CHECK_THROWS_WITH(Adam(net.params, {.betas = {0.9, -0.1}}),
                    Contains("Adam: invalid beta parameter at index 1 -0.1"));
  CHECK_THROWS_WITH(Adam(net.params, {.weight_decay = -0.5}),
                    Contains("Adam: invalid weight_decay -0.5"));
  CHECK_THROWS_WITH(AdamW(net.params, {.lr = -1}), Contains("AdamW: invalid learning rate -1"));
  CHECK_THROWS_WITH(AdamW(net.params, {.betas = {0.9, 1.5}}),
                    Contains("AdamW: invalid beta parameter at index 1 1.5"));
  CHECK_THROWS_WITH(AdamW(net.params, {.eps = -1}), Contains("AdamW: invalid epsilon -1"));
  CHECK_THROWS_WITH(AdamW(net.params, {.weight_decay = -1}),
                    Contains("AdamW: invalid weight_decay -1"));
}

TEST_CASE("RMSprop and Adagrad refuse negative options", "[optim]") {
  TinyNet net;
  CHECK_THROWS_WITH(RMSprop(net.params, {.lr = -1}), Contains("RMSprop: invalid learning rate -1"));
  CHECK_THROWS_WITH(RMSprop(net.params, {.alpha = -0.9}), Contains("RMSprop: invalid alpha -0.9"));
  CHECK_THROWS_WITH(RMSprop(net.params, {.eps = -1}), Contains("RMSprop: invalid epsilon -1"));
  CHECK_THROWS_WITH(RMSprop(net.params, {.weight_decay = -1}),
                    Contains("RMSprop: invalid weight_decay -1"));
  CHECK_THROWS_WITH(RMSprop(net.params, {.momentum = -1}),
                    Contains("RMSprop: invalid momentum -1"));
  CHECK_THROWS_WITH(Adagrad(net.params, {.lr = -1}), Contains("Adagrad: invalid learning rate -1"));
  CHECK_THROWS_WITH(Adagrad(net.params, {.lr_decay = -1}),
                    Contains("Adagrad: invalid lr_decay -1"));
  CHECK_THROWS_WITH(Adagrad(net.params, {.weight_decay = -1}),
                    Contains("Adagrad: invalid weight_decay -1"));
  CHECK_THROWS_WITH(Adagrad(net.params, {.initial_accumulator_value = -1}),
                    Contains("Adagrad: invalid initial_accumulator_value -1"));
  CHECK_THROWS_WITH(Adagrad(net.params, {.eps = -1}), Contains("Adagrad: invalid epsilon -1"));
}

TEST_CASE(
    "options by name refuse unknown names, bad flags and invalid values, changing "
    "nothing",
    "[optim]") {
  TinyNet net;
  SGD sgd(net.params, {.lr = 0.1});
  CHECK_THROWS_WITH(sgd.set_option(0, "beta1", 0.9),
                    Contains("SGD: no option named \"beta1\" (options: lr, momentum, dampening, "
                             "weight_decay, nesterov, maximize)"));
  CHECK_THROWS_WITH(sgd.option(0, "betas"), Contains("SGD: no option named \"betas\""));
  CHECK_THROWS_WITH(sgd.set_option(0, "maximize", 0.5),
                    Contains("SGD: option \"maximize\" is a flag (0 or 1), got 0.5"));
  CHECK_THROWS_WITH(sgd.set_named_options(0, {{"lr", 0.5}, {"nesterov", 1}}),
                    Contains("SGD: Nesterov momentum requires a momentum"));
  CHECK(sgd.lr(0) == 0.1);
  CHECK_THROWS_WITH(sgd.set_lr(0, -1), Contains("SGD: invalid learning rate -1"));
  CHECK_THROWS_WITH(sgd.set_options(0, SGDOptions{.lr = 0.1, .momentum = -1}),
                    Contains("SGD: invalid momentum -1"));
  CHECK(sgd.options(0).momentum == 0);
  CHECK_THROWS_WITH(sgd.lr(1), Contains("SGD: no parameter group 1 (it has 1)"));
  CHECK_THROWS_WITH(sgd.params(3), Contains("SGD: no parameter group 3"));
  CHECK_THROWS_WITH(sgd.state(5), Contains("SGD: no parameter 5 (it has 5)"));
  CHECK_THROWS_WITH(sgd.set_initial_lr(2, 0.1), Contains("SGD: no parameter group 2"));
  CHECK_THROWS_WITH(sgd.initial_lr(2), Contains("SGD: no parameter group 2"));
  CHECK_THROWS_WITH(sgd.options(1), Contains("SGD: no parameter group 1"));
  CHECK_THROWS_WITH(sgd.set_options(1, SGDOptions{.lr = 0.1}),
                    Contains("SGD: no parameter group 1"));
  CHECK_THROWS_WITH(sgd.named_options(1), Contains("SGD: no parameter group 1"));
  CHECK_THROWS_WITH(sgd.set_named_options(1, {}), Contains("SGD: no parameter group 1"));
}

TEST_CASE("add_param_group refuses invalid options and parameters of another group, adding nothing",
          "[optim]") {
  TinyNet net;
  Adam adam(net.first_group());
  CHECK_THROWS_WITH(adam.add_param_group({{net.params[2]}, AdamOptions{.lr = -1}}),
                    Contains("Adam: invalid learning rate -1"));
  CHECK_THROWS_WITH(adam.add_param_group({{net.params[2], net.params[0]}}),
                    Contains("Adam: parameter 1 of group 1 is already in group 0"));
  CHECK(adam.num_param_groups() == 1);
  CHECK(adam.num_params() == 2);
}

TEST_CASE("load_state_dict refuses a state that does not fit, changing nothing", "[optim]") {
  Trained trained;
  const OptimizerState good = trained.adam.state_dict();
  TinyNet net;
  Adam adam(net.params, {.lr = 0.5});
  auto refuses = [&](const OptimizerState& state, const std::string& message) {
    CHECK_THROWS_WITH(adam.load_state_dict(state), Contains(message));
    CHECK(adam.lr(0) == 0.5);
    CHECK(adam.state(0).step == 0);
  };
  OptimizerState state = good;
  state.optimizer = "SGD";
  refuses(state, "Adam: load_state_dict: the state is from SGD, not from Adam");
  state = good;
  state.groups.push_back(state.groups[0]);
  refuses(state, "the state has 2 parameter groups, this optimizer 1");
  state = good;
  state.groups[0].num_params = 4;
  refuses(state, "group 0 has 4 parameters in the state, 5 here");
  state = good;
  state.groups[0].options.erase("eps");
  refuses(state, "group 0 misses option \"eps\"");
  state = good;
  state.groups[0].options["momentum"] = 0.9;
  refuses(state, "group 0 has an unknown option \"momentum\"");
  state = good;
  state.groups[0].options["amsgrad"] = 0.5;
  refuses(state, "Adam: option \"amsgrad\" is a flag (0 or 1), got 0.5");
  state = good;
  state.params.pop_back();
  refuses(state, "the state has 4 parameters, this optimizer 5");
  state = good;
  state.params[1].step = -1;
  refuses(state, "parameter 1 has a negative step count -1");
  state = good;
  state.params[0].buffers["momentum_buffer"] = zeros({5, 3});
  refuses(state,
          "parameter 0 has an unknown buffer \"momentum_buffer\" (Adam keeps: exp_avg, "
          "exp_avg_sq, max_exp_avg_sq)");
  state = good;
  state.params[0].buffers["exp_avg"] = zeros({3, 5});
  refuses(state,
          "parameter 0 has buffer \"exp_avg\" of shape [3, 5], but the parameter has "
          "shape [5, 3]");
  state = good;
  state.params[0].buffers["exp_avg"] = Tensor();
  refuses(state, "parameter 0 has buffer \"exp_avg\" of shape undefined");
}

TEST_CASE("load_state_dict restores every group's options when a later group's are refused",
          "[optim]") {
  TinyNet net;
  SGD sgd({{net.first_group()}, {net.second_group()}}, {.lr = 0.1});
  OptimizerState state = sgd.state_dict();
  state.groups[0].options["lr"] = 0.7;
  state.groups[1].options["nesterov"] = 2;
  CHECK_THROWS_WITH(sgd.load_state_dict(state), Contains("SGD: option \"nesterov\" is a flag"));
  CHECK(sgd.lr(0) == 0.1);
}

TEST_CASE("load_state_dict restores options as saved, like a scheduler's unchecked writes",
          "[optim]") {
  TinyNet net;
  SGD sgd(net.params, {.lr = 0.1});
  OptimizerState state = sgd.state_dict();
  state.groups[0].options["lr"] = -1e-9;  // OneCycleLR's linear schedule can end there
  sgd.load_state_dict(state);
  CHECK(sgd.lr(0) == -1e-9);
}

TEST_CASE("clipping refuses bad norm types, negative clip values and undefined parameters",
          "[optim]") {
  const Tensor a = tensor({1.f}, true);
  a.set_grad(tensor({2.f}));
  CHECK_THROWS_WITH(clip_grad_norm_({a}, 1.0, 0.0),
                    Contains("clip_grad_norm_: norm_type must be positive or infinity, got 0"));
  CHECK_THROWS_WITH(clip_grad_norm_({a}, 1.0, -std::numeric_limits<double>::infinity()),
                    Contains("got -inf"));
  CHECK_THROWS_WITH(clip_grad_norm_({a}, 1.0, std::nan("")), Contains("got nan"));
  CHECK_THROWS_WITH(clip_grad_norm_({a, Tensor()}, 1.0),
                    Contains("clip_grad_norm_: parameter 1 is undefined"));
  CHECK_THROWS_WITH(clip_grad_value_({a}, -0.5),
                    Contains("clip_grad_value_: clip_value must be >= 0, got -0.5"));
  CHECK_THROWS_WITH(clip_grad_value_({Tensor()}, 0.5),
                    Contains("clip_grad_value_: parameter 0 is undefined"));
  CHECK(a.grad().item() == 2.f);
}

TEST_CASE("load_state refuses files that are not a fitting optimizer state, changing nothing",
          "[optim]") {
  Trained trained;
  const TempFile file("bad.safetensors");
  save_state(file.path(), trained.adam);
  const SafetensorsFile good = load_safetensors(file.path());
  TinyNet net;
  Adam adam(net.params, {.lr = 0.5});
  auto refuses = [&](const std::vector<std::pair<std::string, Tensor>>& tensors,
                     const std::map<std::string, std::string>& metadata,
                     const std::string& message) {
    save_safetensors(file.path(), tensors, metadata);
    CHECK_THROWS_WITH(load_state(file.path(), adam), Contains(message));
    CHECK(adam.lr(0) == 0.5);
    CHECK(adam.state(0).step == 0);
  };
  auto with = [&](const std::string& key, const std::string& value) {
    std::map<std::string, std::string> metadata = good.metadata;
    metadata[key] = value;
    return metadata;
  };
  auto without = [&](const std::string& key) {
    std::map<std::string, std::string> metadata = good.metadata;
    metadata.erase(key);
    return metadata;
  };
  refuses(good.tensors, without("format"),
          "load_state: " + file.path() + ": not an ember optimizer state");
  refuses(good.tensors, without("optimizer"), "metadata \"optimizer\" is missing");
  refuses(good.tensors, without("groups"), "metadata \"groups\" is missing");
  refuses(good.tensors, with("params", "five"), "metadata \"params\" is not a count: \"five\"");
  refuses(good.tensors, with("groups", "-1"), "metadata \"groups\" is not a count: \"-1\"");
  refuses(good.tensors, with("group.0.lr", "0.1x"),
          "metadata \"group.0.lr\" is not a number: \"0.1x\"");
  refuses(good.tensors, with("group.0.lr", ""), "metadata \"group.0.lr\" is not a number: \"\"");
  refuses(good.tensors, with("group.1.lr", "0.1"),
          "entry \"group.1.lr\" is out of range (there are 1)");
  refuses(good.tensors, with("group.x.lr", "0.1"), "metadata \"group.x.lr\" is not a count");
  refuses(good.tensors, with("group.0", "0.1"), "unexpected entry \"group.0\"");
  refuses(good.tensors, without("group.0.params"), "metadata \"group.0.params\" is missing");
  refuses(good.tensors, without("param.3.step"), "metadata \"param.3.step\" is missing");
  refuses(good.tensors, with("param.0.steps", "1"), "unexpected metadata \"param.0.steps\"");
  refuses(good.tensors, with("epoch", "1"), "unexpected metadata \"epoch\"");
  refuses(good.tensors, with("scheduler.last_epoch", "1"), "metadata \"scheduler\" is missing");
  std::vector<std::pair<std::string, Tensor>> tensors = good.tensors;
  tensors.emplace_back("momentum", zeros({1}));
  refuses(tensors, good.metadata, "unexpected tensor \"momentum\"");
  tensors = good.tensors;
  tensors.emplace_back("param.9.exp_avg", zeros({1}));
  refuses(tensors, good.metadata, "entry \"param.9.exp_avg\" is out of range (there are 5)");
  refuses(good.tensors, with("optimizer", "SGD"), "Adam: load_state_dict: the state is from SGD");
  refuses(good.tensors, with("group.0.amsgrad", "2"), "Adam: option \"amsgrad\" is a flag");
  StepLR scheduler(adam, 2);
  save_safetensors(file.path(), good.tensors, good.metadata);
  CHECK_THROWS_WITH(load_state(file.path(), adam, &scheduler),
                    Contains("holds no scheduler state, but a StepLR was given"));
}

TEST_CASE("load_state puts the optimizer back when the scheduler refuses its state", "[optim]") {
  Trained trained;
  ExponentialLR saved_scheduler(trained.adam, 0.5);
  const TempFile file("scheduler.safetensors");
  save_state(file.path(), trained.adam, &saved_scheduler);
  TinyNet net;
  Adam adam(net.params, {.lr = 0.5});
  StepLR other(adam, 3);
  CHECK_THROWS_WITH(load_state(file.path(), adam, &other),
                    Contains("StepLR: load_state_dict: the state is from ExponentialLR"));
  CHECK(adam.lr(0) == 0.5);
  CHECK(adam.state(0).step == 0);
  CHECK(other.last_epoch() == 0);
}
