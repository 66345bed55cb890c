// Losses, functional and as modules. Every case of tests/reference/nn.safetensors is run with
// the same arguments generate_nn.py gave PyTorch; values, gradients and Hessian-vector
// products are compared (see nn_reference.h). Then each invalid argument's error.

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ember/ember.h>

#include "nn_reference.h"

using namespace ember;
using Catch::Contains;
using nn::Reduction;
using nn_reference::check_derivatives;

namespace {

/// A case's stored tensors by name; a name the case lacks gives an undefined tensor (an
/// optional weight left out).
struct Inputs {
  std::map<std::string, Tensor> tensors;
  Tensor operator[](const std::string& key) const {
    const auto found = tensors.find(key);
    return found == tensors.end() ? Tensor() : found->second;
  }
};

/// Loads the case's tensors (those in `differentiable` as leaves that require grad), calls
/// `loss` and checks it and its derivatives against PyTorch.
void check_loss(const std::string& name, const std::vector<std::string>& differentiable,
                const std::function<Tensor(const Inputs&)>& loss) {
  Inputs inputs;
  for (const char* key : {"input", "target", "var", "weight", "pos_weight"}) {
    if (!nn_reference::has(name, key)) continue;
    const bool wanted =
        std::find(differentiable.begin(), differentiable.end(), key) != differentiable.end();
    inputs.tensors[key] = nn_reference::leaf(name, key, wanted);
  }
  std::vector<std::pair<std::string, Tensor>> wrt;
  for (const std::string& key : differentiable) wrt.emplace_back(key, inputs[key]);
  check_derivatives(name, loss(inputs), wrt);
}

const std::vector<std::pair<std::string, Reduction>> kReductions = {
    {"mean", Reduction::Mean}, {"sum", Reduction::Sum}, {"none", Reduction::None}};

}  // namespace

// -- regression losses ----------------------------------------------------------------------

TEST_CASE("mse_loss and l1_loss match PyTorch for every reduction", "[nn][loss]") {
  for (const auto& [suffix, reduction] : kReductions) {
    check_loss("mse_loss " + suffix, {"input", "target"}, [r = reduction](const Inputs& t) {
      return nn::mse_loss(t["input"], t["target"], r);
    });
    check_loss("l1_loss " + suffix, {"input", "target"}, [r = reduction](const Inputs& t) {
      return nn::l1_loss(t["input"], t["target"], r);
    });
  }
}

TEST_CASE("smooth_l1_loss matches PyTorch for beta 1, 0.5 and 0", "[nn][loss]") {
  const std::vector<std::tuple<std::string, Reduction, float>> cases = {
      {"smooth_l1_loss mean beta 1", Reduction::Mean, 1.f},
      {"smooth_l1_loss none beta 0.5", Reduction::None, 0.5f},
      {"smooth_l1_loss sum beta 0", Reduction::Sum, 0.f}};
  for (const auto& [name, reduction, beta] : cases) {
    check_loss(name, {"input", "target"}, [r = reduction, b = beta](const Inputs& t) {
      return nn::smooth_l1_loss(t["input"], t["target"], r, b);
    });
  }
}

TEST_CASE("huber_loss matches PyTorch for delta 1, 0.7 and 2", "[nn][loss]") {
  const std::vector<std::tuple<std::string, Reduction, float>> cases = {
      {"huber_loss mean delta 1", Reduction::Mean, 1.f},
      {"huber_loss none delta 0.7", Reduction::None, 0.7f},
      {"huber_loss sum delta 2", Reduction::Sum, 2.f}};
  for (const auto& [name, reduction, delta] : cases) {
    check_loss(name, {"input", "target"}, [r = reduction, d = delta](const Inputs& t) {
      return nn::huber_loss(t["input"], t["target"], r, d);
    });
  }
}

TEST_CASE("gaussian_nll_loss matches PyTorch for every var shape, full and clamped var",
          "[nn][loss]") {
  const std::vector<std::pair<std::string, nn::GaussianNLLLossOptions>> cases = {
      {"gaussian_nll_loss mean", {}},
      {"gaussian_nll_loss none var [7]", {.reduction = Reduction::None}},
      {"gaussian_nll_loss sum var [7,1] full", {.full = true, .reduction = Reduction::Sum}},
      {"gaussian_nll_loss mean tiny var eps 1e-3", {.eps = 1e-3f}}};
  for (const auto& [name, options] : cases) {
    check_loss(name, {"input", "target", "var"}, [o = options](const Inputs& t) {
      return nn::gaussian_nll_loss(t["input"], t["target"], t["var"], o);
    });
  }
}

// -- classification losses ------------------------------------------------------------------

TEST_CASE("cross_entropy with class indices matches PyTorch: weights, ignore_index, smoothing",
          "[nn][loss]") {
  const std::vector<std::pair<std::string, nn::CrossEntropyOptions>> cases = {
      {"mean", {}},
      {"sum", {.reduction = Reduction::Sum}},
      {"none", {.reduction = Reduction::None}},
      {"weight mean", {}},
      {"weight none", {.reduction = Reduction::None}},
      {"ignore -100 mean", {}},
      {"weight ignore 2 mean", {.ignore_index = 2}},
      {"smoothing 0.1 mean", {.label_smoothing = 0.1f}},
      {"smoothing 0.2 weight sum", {.reduction = Reduction::Sum, .label_smoothing = 0.2f}},
      {"smoothing 0.1 weight ignore none", {.reduction = Reduction::None, .label_smoothing = 0.1f}},
      {"smoothing 0.1 weight ignore mean", {.label_smoothing = 0.1f}}};
  for (const auto& [suffix, options] : cases) {
    check_loss("cross_entropy indices " + suffix, {"input"}, [o = options](const Inputs& t) {
      nn::CrossEntropyOptions with_weight = o;
      with_weight.weight = t["weight"];
      return nn::cross_entropy(t["input"], t["target"], with_weight);
    });
  }
}

TEST_CASE("cross_entropy matches PyTorch on 7x5x3 inputs and on one unbatched sample",
          "[nn][loss]") {
  check_loss("cross_entropy indices [7,5,3] weight ignore smoothing 0.1 mean", {"input"},
             [](const Inputs& t) {
               return nn::cross_entropy(t["input"], t["target"],
                                        {.weight = t["weight"], .label_smoothing = 0.1f});
             });
  check_loss("cross_entropy indices unbatched", {"input"},
             [](const Inputs& t) { return nn::cross_entropy(t["input"], t["target"]); });
}

TEST_CASE("cross_entropy with class probabilities matches PyTorch", "[nn][loss]") {
  const std::vector<std::pair<std::string, nn::CrossEntropyOptions>> cases = {
      {"mean", {}},
      {"none", {.reduction = Reduction::None}},
      {"weight smoothing 0.2 sum", {.reduction = Reduction::Sum, .label_smoothing = 0.2f}},
      {"weight mean [7,5,3]", {}}};
  for (const auto& [suffix, options] : cases) {
    check_loss("cross_entropy probabilities " + suffix, {"input"}, [o = options](const Inputs& t) {
      nn::CrossEntropyOptions with_weight = o;
      with_weight.weight = t["weight"];
      return nn::cross_entropy(t["input"], t["target"], with_weight);
    });
  }
}

TEST_CASE("nll_loss matches PyTorch with weights and ignore_index", "[nn][loss]") {
  const std::vector<std::pair<std::string, nn::NLLLossOptions>> cases = {
      {"mean", {}},
      {"weight mean", {}},
      {"weight ignore 3 none", {.ignore_index = 3, .reduction = Reduction::None}},
      {"sum", {.reduction = Reduction::Sum}}};
  for (const auto& [suffix, options] : cases) {
    check_loss("nll_loss " + suffix, {"input"}, [o = options](const Inputs& t) {
      nn::NLLLossOptions with_weight = o;
      with_weight.weight = t["weight"];
      return nn::nll_loss(t["input"], t["target"], with_weight);
    });
  }
}

TEST_CASE("binary_cross_entropy matches PyTorch with soft and hard targets and weights",
          "[nn][loss]") {
  const std::vector<std::pair<std::string, Reduction>> cases = {
      {"mean soft", Reduction::Mean},
      {"sum hard", Reduction::Sum},
      {"none weight [5]", Reduction::None},
      {"mean weight [7,5]", Reduction::Mean}};
  for (const auto& [suffix, reduction] : cases) {
    check_loss("binary_cross_entropy " + suffix, {"input"}, [r = reduction](const Inputs& t) {
      return nn::binary_cross_entropy(t["input"], t["target"],
                                      {.weight = t["weight"], .reduction = r});
    });
  }
}

TEST_CASE("binary_cross_entropy_with_logits matches PyTorch, pos_weight and large logits too",
          "[nn][loss]") {
  const std::vector<std::pair<std::string, Reduction>> cases = {
      {"mean", Reduction::Mean},
      {"none pos_weight [5]", Reduction::None},
      {"sum weight [7,5] pos_weight [5]", Reduction::Sum},
      {"mean large logits pos_weight [5]", Reduction::Mean}};
  for (const auto& [suffix, reduction] : cases) {
    check_loss("binary_cross_entropy_with_logits " + suffix, {"input"},
               [r = reduction](const Inputs& t) {
                 return nn::binary_cross_entropy_with_logits(
                     t["input"], t["target"],
                     {.weight = t["weight"], .pos_weight = t["pos_weight"], .reduction = r});
               });
  }
}

// -- numerics at the edges ------------------------------------------------------------------

TEST_CASE("binary_cross_entropy clamps its logs at -100 like PyTorch", "[nn][loss]") {
  const Tensor input = tensor({0.f, 1.f, 0.f, 1.f}, true);
  const Tensor target = tensor({1.f, 0.f, 0.f, 1.f});
  const Tensor loss = nn::binary_cross_entropy(input, target, {.reduction = Reduction::None});
  CHECK(loss.to_vector() == std::vector<float>{100.f, 100.f, 0.f, 0.f});
  loss.sum().backward();
  for (float g : input.grad().to_vector()) CHECK(std::isfinite(g));
}

TEST_CASE("binary_cross_entropy_with_logits stays finite for logits of +-100", "[nn][loss]") {
  const Tensor input = tensor({-100.f, 100.f, -100.f, 100.f}, true);
  const Tensor target = tensor({1.f, 0.f, 0.f, 1.f});
  const Tensor loss =
      nn::binary_cross_entropy_with_logits(input, target, {.reduction = Reduction::None});
  const std::vector<float> values = loss.to_vector();
  CHECK(values[0] == Approx(100.f));
  CHECK(values[1] == Approx(100.f));
  CHECK(values[2] == Approx(0.f).margin(1e-30));
  CHECK(values[3] == Approx(0.f).margin(1e-30));
  loss.sum().backward();
  // σ(x) - 1 and σ(x) (times pos_weight, here 1): -1, 1 and e^-100 ≈ 4e-44.
  const std::vector<float> g = input.grad().to_vector();
  CHECK(g[0] == -1.f);
  CHECK(g[1] == 1.f);
  CHECK(g[2] == Approx(0.f).margin(1e-30));
  CHECK(g[3] == Approx(0.f).margin(1e-30));
}

TEST_CASE("the mean of cross_entropy where every target is ignored is NaN, as PyTorch",
          "[nn][loss]") {
  const Tensor loss = nn::cross_entropy(zeros({2, 3}), tensor({-100.f, -100.f}));
  CHECK(std::isnan(loss.item()));
}

TEST_CASE("nll_loss ignores an infinite log-probability of a class not targeted", "[nn][loss]") {
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor log_probs = tensor({-inf, -0.5f, -1.f, -0.25f}, {2, 2}, true);
  const Tensor loss = nn::nll_loss(log_probs, tensor({1.f, 0.f}), {.reduction = Reduction::Sum});
  CHECK(loss.item() == 1.5f);
  loss.backward();
  CHECK(log_probs.grad().to_vector() == std::vector<float>{0.f, -1.f, -1.f, 0.f});
}

TEST_CASE("cross_entropy gives second derivatives through label smoothing and weights",
          "[nn][loss]") {
  // Beyond the fixture's Hessian-vector products: the gradient of a gradient norm, as a
  // gradient-penalty method would compute it, is finite and flows to the logits.
  manual_seed(3);
  const Tensor logits = randn({7, 5}, true);
  const Tensor target = tensor({0.f, 1.f, 2.f, 3.f, 4.f, 0.f, 1.f}, {7});
  const Tensor loss = nn::cross_entropy(
      logits, target, {.weight = tensor({1.f, 2.f, 0.5f, 1.f, 1.5f}), .label_smoothing = 0.1f});
  const Tensor g = grad({loss}, {logits}, {}, false, true)[0];
  const Tensor penalty_grad = grad({(g * g).sum()}, {logits})[0];
  CHECK(penalty_grad.shape() == Shape{7, 5});
  for (float v : penalty_grad.to_vector()) CHECK(std::isfinite(v));
}

// -- modules --------------------------------------------------------------------------------

TEST_CASE("loss modules call their functions with the options they hold", "[nn][loss]") {
  manual_seed(4);
  const Tensor x = randn({7, 5}), y = randn({7, 5});
  const Tensor probabilities = rand({7, 5}),
               labels = tensor({0.f, 1.f, 2.f, 3.f, 4.f, 4.f, 0.f}, {7});
  const Tensor w = tensor({1.f, 2.f, 0.5f, 1.f, 1.5f});
  auto same = [](const Tensor& a, const Tensor& b) { return a.to_vector() == b.to_vector(); };
  CHECK(same(nn::MSELoss()(x, y), nn::mse_loss(x, y)));
  CHECK(same(nn::L1Loss(Reduction::Sum)(x, y), nn::l1_loss(x, y, Reduction::Sum)));
  CHECK(same(nn::SmoothL1Loss(Reduction::None, 0.5f)(x, y),
             nn::smooth_l1_loss(x, y, Reduction::None, 0.5f)));
  CHECK(same(nn::HuberLoss(Reduction::Mean, 0.7f)(x, y),
             nn::huber_loss(x, y, Reduction::Mean, 0.7f)));
  CHECK(same(nn::CrossEntropyLoss({.weight = w, .label_smoothing = 0.1f})(x, labels),
             nn::cross_entropy(x, labels, {.weight = w, .label_smoothing = 0.1f})));
  CHECK(same(nn::NLLLoss({.weight = w})(x.log_softmax(1), labels),
             nn::nll_loss(x.log_softmax(1), labels, {.weight = w})));
  CHECK(same(nn::BCELoss()(x.sigmoid(), probabilities),
             nn::binary_cross_entropy(x.sigmoid(), probabilities)));
  CHECK(same(nn::BCEWithLogitsLoss({.pos_weight = w})(x, probabilities),
             nn::binary_cross_entropy_with_logits(x, probabilities, {.pos_weight = w})));
  CHECK(same(nn::GaussianNLLLoss({.full = true})(x, y, probabilities + 0.1f),
             nn::gaussian_nll_loss(x, y, probabilities + 0.1f, {.full = true})));
}

TEST_CASE("loss modules print like PyTorch and hold class weights as buffers", "[nn][loss]") {
  CHECK(nn::MSELoss().to_string() == "MSELoss()");
  CHECK(nn::CrossEntropyLoss().to_string() == "CrossEntropyLoss()");
  CHECK(nn::GaussianNLLLoss().to_string() == "GaussianNLLLoss()");
  CHECK(nn::CrossEntropyLoss().state_dict().empty());
  const nn::CrossEntropyLoss weighted({.weight = ones({5})});
  REQUIRE(weighted.state_dict().size() == 1);
  CHECK(weighted.state_dict()[0].first == "weight");
  const nn::BCEWithLogitsLoss logits({.pos_weight = ones({5})});
  REQUIRE(logits.state_dict().size() == 1);
  CHECK(logits.state_dict()[0].first == "pos_weight");
  CHECK(logits.parameters().empty());
}

// -- errors ---------------------------------------------------------------------------------

TEST_CASE("regression losses reject mismatched shapes and bad beta or delta", "[nn][loss]") {
  const Tensor a = zeros({7, 5}), b = zeros({7, 1});
  CHECK_THROWS_WITH(nn::mse_loss(a, b),
                    Contains("mse_loss") && Contains("[7, 1]") && Contains("[7, 5]"));
  CHECK_THROWS_WITH(nn::l1_loss(a, b), Contains("l1_loss") && Contains("[7, 1]"));
  CHECK_THROWS_WITH(nn::smooth_l1_loss(a, b), Contains("smooth_l1_loss") && Contains("[7, 1]"));
  CHECK_THROWS_WITH(nn::huber_loss(a, b), Contains("huber_loss") && Contains("[7, 1]"));
  CHECK_THROWS_WITH(nn::mse_loss(a, Tensor()), Contains("mse_loss") && Contains("undefined"));
  CHECK_THROWS_WITH(nn::smooth_l1_loss(a, a, Reduction::Mean, -1.f),
                    Contains("smooth_l1_loss") && Contains("beta") && Contains("-1.0"));
  CHECK_THROWS_WITH(nn::huber_loss(a, a, Reduction::Mean, 0.f),
                    Contains("huber_loss") && Contains("delta") && Contains("0.0"));
  CHECK_THROWS_WITH(nn::SmoothL1Loss(Reduction::Mean, -0.5f),
                    Contains("SmoothL1Loss") && Contains("-0.5"));
  CHECK_THROWS_WITH(nn::HuberLoss(Reduction::Mean, -2.f),
                    Contains("HuberLoss") && Contains("-2.0"));
}

TEST_CASE("cross_entropy and nll_loss reject invalid class indices", "[nn][loss]") {
  const Tensor logits = zeros({4, 3});
  CHECK_THROWS_WITH(nn::cross_entropy(logits, tensor({0.f, 3.f, 1.f, 2.f})),
                    Contains("cross_entropy") && Contains("target 3") && Contains("[1]") &&
                        Contains("3 classes"));
  CHECK_THROWS_WITH(nn::cross_entropy(logits, tensor({0.f, -1.f, 1.f, 2.f})),
                    Contains("cross_entropy") && Contains("target -1") && Contains("out of range"));
  CHECK_THROWS_WITH(nn::cross_entropy(logits, tensor({0.f, 1.5f, 1.f, 2.f})),
                    Contains("cross_entropy") && Contains("1.5") && Contains("not a class index"));
  CHECK_THROWS_WITH(nn::cross_entropy(logits, tensor({0.f, std::nanf(""), 1.f, 2.f})),
                    Contains("cross_entropy") && Contains("nan"));
  CHECK_THROWS_WITH(nn::nll_loss(logits, tensor({0.f, 1.f, 7.f, 2.f})),
                    Contains("nll_loss") && Contains("target 7") && Contains("[2]"));
  // With ignore_index = 2, a 2 is fine but a 3 is still out of range.
  CHECK_NOTHROW(nn::nll_loss(logits, tensor({0.f, 1.f, 2.f, 2.f}), {.ignore_index = 2}));
}

TEST_CASE("cross_entropy and nll_loss reject mismatched shapes and weights", "[nn][loss]") {
  const Tensor logits = zeros({4, 3});
  CHECK_THROWS_WITH(nn::cross_entropy(logits, zeros({4, 1})),
                    Contains("cross_entropy") && Contains("[4]") && Contains("[4, 1]"));
  CHECK_THROWS_WITH(nn::cross_entropy(zeros({4, 3, 2}), zeros({4, 3})),
                    Contains("cross_entropy") && Contains("[4, 2]") && Contains("[4, 3]"));
  CHECK_THROWS_WITH(nn::nll_loss(logits, zeros({5})), Contains("nll_loss") && Contains("[5]"));
  CHECK_THROWS_WITH(nn::cross_entropy(scalar_tensor(1.f), scalar_tensor(0.f)),
                    Contains("cross_entropy") && Contains("class dim"));
  CHECK_THROWS_WITH(
      nn::cross_entropy(logits, zeros({4}), {.weight = ones({4})}),
      Contains("cross_entropy") && Contains("weight") && Contains("[3]") && Contains("[4]"));
  CHECK_THROWS_WITH(nn::nll_loss(logits, zeros({4}), {.weight = ones({3, 1})}),
                    Contains("nll_loss") && Contains("[3, 1]"));
  CHECK_THROWS_WITH(nn::cross_entropy(logits, Tensor()),
                    Contains("cross_entropy") && Contains("target is undefined"));
}

TEST_CASE("cross_entropy rejects bad probabilities, label_smoothing and ignore_index",
          "[nn][loss]") {
  const Tensor logits = zeros({2, 3});
  CHECK_THROWS_WITH(nn::cross_entropy(logits, tensor({0.5f, 0.5f, 0.f, 1.2f, 0.f, 0.f}, {2, 3})),
                    Contains("cross_entropy") && Contains("1.2") && Contains("[1, 0]"));
  CHECK_THROWS_WITH(nn::cross_entropy(logits, tensor({0.5f, 0.5f, 0.f, -0.1f, 0.f, 1.f}, {2, 3})),
                    Contains("cross_entropy") && Contains("-0.1"));
  CHECK_THROWS_WITH(nn::cross_entropy(logits, full({2, 3}, 0.3f), {.ignore_index = 1}),
                    Contains("cross_entropy") && Contains("ignore_index"));
  CHECK_THROWS_WITH(nn::cross_entropy(logits, zeros({2}), {.label_smoothing = 1.5f}),
                    Contains("cross_entropy") && Contains("label_smoothing") && Contains("1.5"));
}

TEST_CASE("binary cross entropies reject values outside 0 to 1 and mismatched shapes",
          "[nn][loss]") {
  const Tensor p = full({2, 3}, 0.5f);
  CHECK_THROWS_WITH(nn::binary_cross_entropy(tensor({0.5f, 1.5f}), tensor({0.f, 1.f})),
                    Contains("binary_cross_entropy") && Contains("input") && Contains("1.5"));
  CHECK_THROWS_WITH(nn::binary_cross_entropy(tensor({0.5f, 0.5f}), tensor({0.f, 2.f})),
                    Contains("binary_cross_entropy") && Contains("target") && Contains("2.0"));
  CHECK_THROWS_WITH(nn::binary_cross_entropy(p, full({3}, 0.5f)),
                    Contains("binary_cross_entropy") && Contains("[3]") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(nn::binary_cross_entropy(p, p, {.weight = ones({2})}),
                    Contains("binary_cross_entropy") && Contains("[2]"));
  CHECK_THROWS_WITH(nn::binary_cross_entropy(p, p, {.weight = ones({4, 2, 3})}),
                    Contains("weight") && Contains("[4, 2, 3]"));
  CHECK_THROWS_WITH(
      nn::binary_cross_entropy_with_logits(zeros({2}), tensor({0.f, -1.f})),
      Contains("binary_cross_entropy_with_logits") && Contains("-1.0") && Contains("[1]"));
  CHECK_THROWS_WITH(nn::binary_cross_entropy_with_logits(zeros({2}), zeros({3})),
                    Contains("binary_cross_entropy_with_logits") && Contains("[3]"));
  CHECK_THROWS_WITH(
      nn::binary_cross_entropy_with_logits(zeros({2, 3}), p, {.pos_weight = ones({2})}),
      Contains("binary_cross_entropy_with_logits") && Contains("[2]"));
}

TEST_CASE("gaussian_nll_loss rejects a var of the wrong shape or with negative entries",
          "[nn][loss]") {
  const Tensor x = zeros({7, 5});
  CHECK_THROWS_WITH(nn::gaussian_nll_loss(x, x, ones({5})),
                    Contains("gaussian_nll_loss") && Contains("[5]") && Contains("[7, 5]"));
  CHECK_THROWS_WITH(nn::gaussian_nll_loss(x, x, ones({7, 2})), Contains("[7, 2]"));
  CHECK_THROWS_WITH(nn::gaussian_nll_loss(x, zeros({7}), ones({7})),
                    Contains("gaussian_nll_loss") && Contains("[7]"));
  Tensor var = ones({7});
  var.data()[3] = -0.5f;
  CHECK_THROWS_WITH(nn::gaussian_nll_loss(x, x, var),
                    Contains("gaussian_nll_loss") && Contains("-0.5") && Contains("[3]"));
  CHECK_THROWS_WITH(nn::gaussian_nll_loss(x, x, ones({7, 5}), {.eps = -1.f}),
                    Contains("eps") && Contains("-1.0"));
}
