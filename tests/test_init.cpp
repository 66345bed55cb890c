// nn::init: gains, fans, and the statistics of each initialiser on large seeded samples.
//
// Statistical checks allow 5 standard errors of the estimate (a false failure has odds of
// about 1 in 1.7 million per check, and the seeds are fixed anyway): for a sample mean the
// standard error is σ/√n; for a sample variance it is √((μ4 - σ⁴)/n), with the fourth
// central moment μ4 = 3σ⁴ for a normal and 9σ⁴/5 for a uniform.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include <ember/ember.h>

using namespace ember;
using Catch::Contains;
namespace init = nn::init;

namespace {

struct Moments {
  double mean;
  double variance;  // biased: the sample is large
  double max_abs;
};

Moments moments(const Tensor& t) {
  const std::vector<float> v = t.to_vector();
  double total = 0.0, max_abs = 0.0;
  for (float x : v) {
    total += x;
    max_abs = std::max(max_abs, std::abs(double(x)));
  }
  const double mean = total / double(v.size());
  double squares = 0.0;
  for (float x : v) squares += (x - mean) * (x - mean);
  return {mean, squares / double(v.size()), max_abs};
}

/// The mean and standard deviation of normal samples.
void check_normal(const Tensor& t, double expected_mean, double std) {
  const Moments m = moments(t);
  const double n = double(t.numel()), variance = std * std;
  CHECK(std::abs(m.mean - expected_mean) <= 5.0 * std / std::sqrt(n));
  CHECK(std::abs(m.variance - variance) <= 5.0 * std::sqrt(2.0 * variance * variance / n));
}

/// Samples of U(-bound, bound): inside the bounds, reaching close to them, with the right
/// mean and variance (bound² / 3).
void check_symmetric_uniform(const Tensor& t, double bound) {
  const Moments m = moments(t);
  const double n = double(t.numel()), variance = bound * bound / 3.0;
  // The bound is computed in float, which may round it up past `bound`; -bound itself is drawn
  // with probability 2^-24 per sample.
  CHECK(m.max_abs <= bound * (1 + 1e-6));
  // P(every |x| < (1 - 1e-3) bound) = (1 - 1e-3)^n, about e^-100 for n = 1e5.
  CHECK(m.max_abs >= (1.0 - 1e-3) * bound);
  CHECK(std::abs(m.mean) <= 5.0 * std::sqrt(variance / n));
  CHECK(std::abs(m.variance - variance) <=
        5.0 * std::sqrt((9.0 / 5.0 - 1.0) * variance * variance / n));
}

const Shape kLarge{400, 250};  // 1e5 samples; fan_in 250, fan_out 400

}  // namespace

TEST_CASE("calculate_gain gives PyTorch's gains", "[nn][init]") {
  for (const char* linear : {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                             "conv_transpose2d", "conv_transpose3d", "sigmoid"}) {
    CHECK(init::calculate_gain(linear) == 1.f);
  }
  CHECK(init::calculate_gain("tanh") == Approx(5.0 / 3.0));
  CHECK(init::calculate_gain("relu") == Approx(std::sqrt(2.0)));
  CHECK(init::calculate_gain("leaky_relu") == Approx(std::sqrt(2.0 / (1.0 + 0.01 * 0.01))));
  CHECK(init::calculate_gain("leaky_relu", 0.2f) == Approx(std::sqrt(2.0 / 1.04)));
  CHECK(init::calculate_gain("selu") == 0.75f);
  CHECK_THROWS_WITH(init::calculate_gain("swish"),
                    Contains("calculate_gain") && Contains("'swish'"));
}

TEST_CASE("fans follow PyTorch: fan_in = size(1) x receptive field", "[nn][init]") {
  const init::Fans linear = init::calculate_fan_in_and_fan_out(zeros({3, 7}));
  CHECK(linear.fan_in == 7);
  CHECK(linear.fan_out == 3);
  const init::Fans conv = init::calculate_fan_in_and_fan_out(zeros({8, 4, 3, 2}));
  CHECK(conv.fan_in == 4 * 6);
  CHECK(conv.fan_out == 8 * 6);
  CHECK_THROWS_WITH(init::calculate_fan_in_and_fan_out(zeros({5})),
                    Contains("fewer than 2 dimensions") && Contains("[5]"));
}

TEST_CASE("uniform_ and normal_ draw from the requested distributions", "[nn][init]") {
  manual_seed(10);
  const Tensor u = init::uniform_(zeros(kLarge), -0.5f, 1.5f);
  // U(-0.5, 1.5) is U(-1, 1) shifted by 0.5.
  check_symmetric_uniform(u - 0.5f, 1.0);
  const Tensor n = init::normal_(zeros(kLarge), 2.f, 0.3f);
  check_normal(n, 2.0, 0.3);
  const Tensor standard = init::normal_(zeros(kLarge));
  check_normal(standard, 0.0, 1.0);
  const Tensor unit = init::uniform_(zeros(kLarge));
  CHECK(moments(unit).max_abs < 1.0);
  CHECK(moments(unit).mean == Approx(0.5).margin(5.0 / std::sqrt(12.0 * 1e5)));
}

TEST_CASE("constant_, zeros_ and ones_ fill every element", "[nn][init]") {
  const Tensor t = randn({7, 5});
  CHECK(init::constant_(t, 0.25f).to_vector() == std::vector<float>(35, 0.25f));
  CHECK(init::zeros_(t).to_vector() == std::vector<float>(35, 0.f));
  CHECK(init::ones_(t).to_vector() == std::vector<float>(35, 1.f));
}

TEST_CASE("xavier_uniform_ fills U(-a, a) with a = gain sqrt(6 / (fan_in + fan_out))",
          "[nn][init]") {
  manual_seed(11);
  check_symmetric_uniform(init::xavier_uniform_(zeros(kLarge)), std::sqrt(6.0 / 650.0));
  const float gain = init::calculate_gain("tanh");
  check_symmetric_uniform(init::xavier_uniform_(zeros(kLarge), gain),
                          5.0 / 3.0 * std::sqrt(6.0 / 650.0));
  // A conv weight [20, 10, 5, 5]: fans 250 and 500.
  check_symmetric_uniform(init::xavier_uniform_(zeros({20, 10, 5, 10})), std::sqrt(6.0 / 1500.0));
}

TEST_CASE("xavier_normal_ fills N(0, std^2) with std = gain sqrt(2 / (fan_in + fan_out))",
          "[nn][init]") {
  manual_seed(12);
  check_normal(init::xavier_normal_(zeros(kLarge)), 0.0, std::sqrt(2.0 / 650.0));
  check_normal(init::xavier_normal_(zeros(kLarge), 2.f), 0.0, 2.0 * std::sqrt(2.0 / 650.0));
}

TEST_CASE("kaiming_uniform_ fills U(-b, b) with b = gain sqrt(3 / fan)", "[nn][init]") {
  manual_seed(13);
  // Defaults: a = 0, fan_in, leaky_relu, so gain = sqrt(2).
  check_symmetric_uniform(init::kaiming_uniform_(zeros(kLarge)), std::sqrt(2.0 * 3.0 / 250.0));
  check_symmetric_uniform(init::kaiming_uniform_(zeros(kLarge), 0.f, "fan_out", "relu"),
                          std::sqrt(2.0 * 3.0 / 400.0));
  // a = sqrt(5), PyTorch's Linear default, works out to 1/sqrt(fan_in).
  check_symmetric_uniform(init::kaiming_uniform_(zeros(kLarge), std::sqrt(5.f)),
                          1.0 / std::sqrt(250.0));
  check_symmetric_uniform(init::kaiming_uniform_(zeros(kLarge), 0.f, "fan_in", "tanh"),
                          5.0 / 3.0 * std::sqrt(3.0 / 250.0));
}

TEST_CASE("kaiming_normal_ fills N(0, std^2) with std = gain / sqrt(fan)", "[nn][init]") {
  manual_seed(14);
  check_normal(init::kaiming_normal_(zeros(kLarge)), 0.0, std::sqrt(2.0 / 250.0));
  check_normal(init::kaiming_normal_(zeros(kLarge), 0.f, "fan_out"), 0.0, std::sqrt(2.0 / 400.0));
  check_normal(init::kaiming_normal_(zeros(kLarge), 0.1f, "fan_in", "leaky_relu"), 0.0,
               std::sqrt(2.0 / 1.01 / 250.0));
}

TEST_CASE("initialisers update a parameter in place, bump its version, record nothing",
          "[nn][init]") {
  nn::Linear layer(5, 3);
  const Tensor weight = layer.weight;
  const uint64_t version = weight.version();
  const Tensor returned = init::xavier_uniform_(layer.weight);
  CHECK(returned.impl() == weight.impl());
  CHECK(weight.version() > version);
  CHECK(weight.requires_grad());
  CHECK(weight.is_leaf());
  CHECK(weight.grad_fn() == nullptr);
  init::zeros_(layer.bias);
  CHECK(layer.named_parameters()[1].second.to_vector() == std::vector<float>(3, 0.f));
  // Grad mode is back on afterwards.
  CHECK(grad_enabled());
}

TEST_CASE("initialisers are reproducible with manual_seed", "[nn][init]") {
  manual_seed(5);
  const std::vector<float> first = init::kaiming_normal_(zeros({7, 5})).to_vector();
  manual_seed(5);
  CHECK(init::kaiming_normal_(zeros({7, 5})).to_vector() == first);
}

TEST_CASE("kaiming on a zero-element tensor is a no-op, as PyTorch", "[nn][init]") {
  const Tensor empty_weight = zeros({0, 5});
  CHECK_NOTHROW(init::kaiming_uniform_(empty_weight, 0.f, "fan_out"));
  CHECK_NOTHROW(init::kaiming_normal_(empty_weight, 0.f, "fan_out"));
  CHECK(empty_weight.numel() == 0);
}

TEST_CASE("initialisers reject invalid arguments", "[nn][init]") {
  CHECK_THROWS_WITH(init::xavier_uniform_(zeros({5})),
                    Contains("fewer than 2 dimensions") && Contains("[5]"));
  CHECK_THROWS_WITH(init::xavier_normal_(scalar_tensor(1.f)), Contains("fewer than 2 dimensions"));
  CHECK_THROWS_WITH(init::kaiming_uniform_(zeros({5})), Contains("fewer than 2 dimensions"));
  CHECK_THROWS_WITH(init::kaiming_normal_(zeros({5})), Contains("fewer than 2 dimensions"));
  CHECK_THROWS_WITH(init::kaiming_uniform_(zeros({3, 5}), 0.f, "fan_avg"),
                    Contains("kaiming_uniform_") && Contains("'fan_avg'"));
  CHECK_THROWS_WITH(init::kaiming_normal_(zeros({3, 5}), 0.f, "fan"),
                    Contains("kaiming_normal_") && Contains("'fan'"));
  CHECK_THROWS_WITH(init::kaiming_normal_(zeros({3, 5}), 0.f, "fan_in", "softsign"),
                    Contains("'softsign'"));
  CHECK_THROWS_WITH(init::uniform_(zeros({3}), 1.f, 0.f),
                    Contains("uniform_") && Contains("a = 1"));
  CHECK_THROWS_WITH(init::normal_(zeros({3}), 0.f, -1.f), Contains("normal_") && Contains("std"));
  CHECK_THROWS_WITH(init::zeros_(Tensor()), Contains("zeros_") && Contains("undefined"));
  CHECK_THROWS_WITH(init::xavier_uniform_(Tensor()), Contains("xavier_uniform_"));
}
