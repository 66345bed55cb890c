// Layers: activations, Dropout, LayerNorm, BatchNorm1d, Identity and Flatten. Outputs and
// gradients (with respect to inputs and parameters, and second order where smooth) are
// compared with PyTorch through tests/reference/nn.safetensors (see nn_reference.h).

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <ember/ember.h>

#include "nn_reference.h"

using namespace ember;
using Catch::Contains;
using nn_reference::check_derivatives;
using nn_reference::leaf;
using nn_reference::stored;

namespace {

/// Runs `layer` on the case's x (loading the case's parameters, by their PyTorch names)
/// and checks the output and every gradient against PyTorch.
void check_layer(const std::string& name, nn::Layer& layer) {
  std::vector<std::pair<std::string, Tensor>> wrt;
  const Tensor x = leaf(name, "x");
  wrt.emplace_back("x", x);
  nn::NamedTensors parameters;
  for (const auto& [parameter_name, parameter] : layer.named_parameters()) {
    parameters.emplace_back(parameter_name, stored(name, parameter_name));
    wrt.emplace_back(parameter_name, parameter);
  }
  layer.load_state_dict(parameters, /*strict=*/false);
  check_derivatives(name, layer(x), wrt);
}

/// Trains `layer` over the case's steps, checking each step's output and gradients, then
/// its buffers, then one eval-mode pass.
void check_batch_norm_steps(const std::string& name, nn::BatchNorm1d& layer, int steps) {
  nn::NamedTensors parameters;
  for (const auto& [parameter_name, parameter] : layer.named_parameters()) {
    parameters.emplace_back(parameter_name, stored(name, parameter_name));
  }
  layer.load_state_dict(parameters, /*strict=*/false);

  auto run = [&](const std::string& prefix) {
    const Tensor x = leaf(name, prefix + "x");
    std::vector<std::pair<std::string, Tensor>> wrt = {{"x", x}};
    for (const auto& entry : layer.named_parameters()) wrt.push_back(entry);
    check_derivatives(name, layer(x), wrt, prefix);
  };
  layer.train();
  for (int step = 0; step < steps; ++step) run("step" + std::to_string(step) + "/");
  if (layer.running_mean.defined()) {
    nn_reference::Worst worst;
    for (const char* buffer : {"running_mean", "running_var", "num_batches_tracked"}) {
      const Tensor actual = buffer == std::string("running_mean")  ? layer.running_mean
                            : buffer == std::string("running_var") ? layer.running_var
                                                                   : layer.num_batches_tracked;
      nn_reference::check_close(actual, stored(name, buffer), nn_reference::kFirstOrder, buffer,
                                worst);
    }
  }
  layer.eval();
  run("eval/");
}

}  // namespace

// -- reprs ----------------------------------------------------------------------------------

TEST_CASE("layers print like PyTorch's modules", "[nn][layers]") {
  CHECK(nn::LeakyReLU().to_string() == "LeakyReLU(negative_slope=0.01)");
  CHECK(nn::LeakyReLU(0.2f, true).to_string() == "LeakyReLU(negative_slope=0.2, inplace=True)");
  CHECK(nn::LeakyReLU(1e-7f).to_string() == "LeakyReLU(negative_slope=1e-07)");
  CHECK(nn::Sigmoid().to_string() == "Sigmoid()");
  CHECK(nn::Tanh().to_string() == "Tanh()");
  CHECK(nn::GELU().to_string() == "GELU(approximate='none')");
  CHECK(nn::GELU("tanh").to_string() == "GELU(approximate='tanh')");
  CHECK(nn::Softplus().to_string() == "Softplus(beta=1, threshold=20)");
  CHECK(nn::Softplus(2.5f, 10.f).to_string() == "Softplus(beta=2.5, threshold=10)");
  CHECK(nn::Dropout().to_string() == "Dropout(p=0.5, inplace=False)");
  CHECK(nn::Dropout(0.25f).to_string() == "Dropout(p=0.25, inplace=False)");
  CHECK(nn::LayerNorm(5).to_string() == "LayerNorm((5,), eps=1e-05, elementwise_affine=True)");
  CHECK(nn::LayerNorm(Shape{3, 5}, 1e-3f, false).to_string() ==
        "LayerNorm((3, 5), eps=0.001, elementwise_affine=False)");
  CHECK(nn::BatchNorm1d(5).to_string() ==
        "BatchNorm1d(5, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  CHECK(nn::BatchNorm1d(5, 1e-5f, std::nullopt, false, false).to_string() ==
        "BatchNorm1d(5, eps=1e-05, momentum=None, affine=False, track_running_stats=False)");
  CHECK(nn::Identity().to_string() == "Identity()");
  CHECK(nn::Flatten().to_string() == "Flatten(start_dim=1, end_dim=-1)");
  CHECK(nn::Flatten(0, 2).to_string() == "Flatten(start_dim=0, end_dim=2)");
}

TEST_CASE("a Sequential of the new layers prints and switches modes like PyTorch", "[nn][layers]") {
  nn::Sequential model(nn::Linear(5, 4), nn::BatchNorm1d(4), nn::GELU(), nn::Dropout(0.1f),
                       nn::Flatten());
  CHECK(model.to_string() ==
        "Sequential(\n"
        "  (0): Linear(in_features=5, out_features=4, bias=True)\n"
        "  (1): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (2): GELU(approximate='none')\n"
        "  (3): Dropout(p=0.1, inplace=False)\n"
        "  (4): Flatten(start_dim=1, end_dim=-1)\n"
        ")");
  model.eval();
  CHECK_FALSE(model[1].is_training());
  CHECK_FALSE(model[3].is_training());
  manual_seed(0);
  const Tensor x = randn({7, 5});
  // In eval mode nothing is random: two passes agree exactly.
  CHECK(model(x).to_vector() == model(x).to_vector());
}

// -- activations ----------------------------------------------------------------------------

TEST_CASE("LeakyReLU matches PyTorch on a 7x5 batch, slope at 0 included", "[nn][layers]") {
  nn::LeakyReLU by_default;
  check_layer("leaky_relu default", by_default);
  nn::LeakyReLU steeper(0.2f);
  check_layer("leaky_relu 0.2", steeper);
}

TEST_CASE("Sigmoid and Tanh match PyTorch on a 7x5 batch", "[nn][layers]") {
  nn::Sigmoid sigmoid_layer;
  check_layer("sigmoid", sigmoid_layer);
  nn::Tanh tanh_layer;
  check_layer("tanh", tanh_layer);
}

TEST_CASE("GELU matches PyTorch in both its exact and tanh forms", "[nn][layers]") {
  nn::GELU exact;
  check_layer("gelu none", exact);
  nn::GELU approximate("tanh");
  check_layer("gelu tanh", approximate);
}

TEST_CASE("GELU rejects an unknown approximation", "[nn][layers]") {
  CHECK_THROWS_WITH(nn::GELU("fast"), Contains("GELU") && Contains("'fast'"));
}

TEST_CASE("Softplus matches PyTorch, on both sides of the threshold", "[nn][layers]") {
  nn::Softplus by_default;
  check_layer("softplus default", by_default);
  nn::Softplus sharper(2.f, 3.f);
  check_layer("softplus beta 2 threshold 3", sharper);
}

// -- Dropout --------------------------------------------------------------------------------

TEST_CASE("Dropout zeroes a fraction p in training and scales survivors by 1/(1-p)",
          "[nn][layers][dropout]") {
  for (float p : {0.1f, 0.5f, 0.8f}) {
    INFO("p = " << p);
    manual_seed(1);
    nn::Dropout dropout(p);
    const int64_t n = 100000;
    const Tensor x = uniform({n}, 0.5f, 2.f);
    const std::vector<float> in = x.to_vector(), out = dropout(x).to_vector();
    int64_t dropped = 0, not_exact = 0, beyond_an_ulp = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      if (out[i] == 0.f) {
        ++dropped;
        continue;
      }
      // Kept values are exactly x · (1/(1-p)) in float, within an ulp of x / (1-p).
      not_exact += out[i] != in[i] * (1.f / (1.f - p));
      beyond_an_ulp +=
          std::abs(double(out[i]) - double(in[i]) / (1.0 - double(p))) > 1.2e-7 * double(out[i]);
    }
    CHECK(not_exact == 0);
    CHECK(beyond_an_ulp == 0);
    // The dropped count is Binomial(n, p): allow 5 standard errors.
    const double fraction = double(dropped) / double(n);
    const double standard_error = std::sqrt(double(p) * (1.0 - double(p)) / double(n));
    CHECK(std::abs(fraction - double(p)) < 5.0 * standard_error);
  }
}

TEST_CASE("Dropout's gradient is its mask", "[nn][layers][dropout]") {
  manual_seed(2);
  nn::Dropout dropout(0.5f);
  const Tensor x = uniform({1000}, 1.f, 2.f, true);
  const Tensor y = dropout(x);
  y.sum().backward();
  const std::vector<float> out = y.to_vector(), g = x.grad().to_vector();
  int64_t wrong = 0;
  for (size_t i = 0; i < out.size(); ++i) wrong += g[i] != (out[i] == 0.f ? 0.f : 2.f);
  CHECK(wrong == 0);
}

TEST_CASE("Dropout is the identity in eval mode and with p = 0", "[nn][layers][dropout]") {
  const Tensor x = randn({7, 5});
  nn::Dropout dropout(0.5f);
  dropout.eval();
  CHECK(dropout(x).to_vector() == x.to_vector());
  nn::Dropout keep_all(0.f);
  CHECK(keep_all(x).to_vector() == x.to_vector());
}

TEST_CASE("Dropout with p = 1 zeroes everything, gradient included", "[nn][layers][dropout]") {
  nn::Dropout drop_all(1.f);
  const Tensor x = randn({7, 5}, true);
  const Tensor y = drop_all(x);
  CHECK(y.to_vector() == std::vector<float>(35, 0.f));
  y.sum().backward();
  CHECK(x.grad().to_vector() == std::vector<float>(35, 0.f));
}

TEST_CASE("Dropout masks are reproducible with manual_seed", "[nn][layers][dropout]") {
  nn::Dropout dropout(0.3f);
  const Tensor x = ones({7, 5});
  manual_seed(42);
  const std::vector<float> first = dropout(x).to_vector();
  const std::vector<float> second = dropout(x).to_vector();
  manual_seed(42);
  CHECK(dropout(x).to_vector() == first);
  CHECK(dropout(x).to_vector() == second);
  CHECK(first != second);  // the generator moves on between calls
}

TEST_CASE("Dropout rejects probabilities outside 0 to 1", "[nn][layers][dropout]") {
  CHECK_THROWS_WITH(nn::Dropout(-0.1f), Contains("Dropout") && Contains("-0.1"));
  CHECK_THROWS_WITH(nn::Dropout(1.5f), Contains("between 0 and 1") && Contains("1.5"));
  CHECK_THROWS_WITH(nn::Dropout(std::nanf("")), Contains("Dropout") && Contains("nan"));
}

// -- LayerNorm ------------------------------------------------------------------------------

TEST_CASE("LayerNorm matches PyTorch on a 7x5 batch, weight and bias included",
          "[nn][layers][norm]") {
  nn::LayerNorm layer(5);
  check_layer("layer_norm [7,5]", layer);
}

TEST_CASE("LayerNorm over the last two dims matches PyTorch", "[nn][layers][norm]") {
  nn::LayerNorm layer(Shape{3, 5}, 1e-3f);
  check_layer("layer_norm [7,3,5] over (3,5) eps 1e-3", layer);
}

TEST_CASE("LayerNorm without affine parameters matches PyTorch", "[nn][layers][norm]") {
  nn::LayerNorm layer(5, 1e-5f, false);
  CHECK(layer.parameters().empty());
  check_layer("layer_norm [7,5] no affine", layer);
}

TEST_CASE("LayerNorm starts with weight 1 and bias 0 under PyTorch's names", "[nn][layers][norm]") {
  nn::LayerNorm layer(Shape{2, 3});
  REQUIRE(layer.named_parameters().size() == 2);
  CHECK(layer.named_parameters()[0].first == "weight");
  CHECK(layer.named_parameters()[1].first == "bias");
  CHECK(layer.weight.to_vector() == std::vector<float>(6, 1.f));
  CHECK(layer.bias.to_vector() == std::vector<float>(6, 0.f));
  CHECK(layer.weight.shape() == Shape{2, 3});
}

TEST_CASE("LayerNorm rejects inputs whose trailing dims differ", "[nn][layers][norm]") {
  nn::LayerNorm layer(Shape{3, 5});
  CHECK_THROWS_WITH(layer(zeros({7, 5})),
                    Contains("LayerNorm") && Contains("[*, 3, 5]") && Contains("[7, 5]"));
  CHECK_THROWS_WITH(layer(zeros({7, 5, 3})), Contains("[7, 5, 3]"));
  CHECK_THROWS_WITH(nn::LayerNorm(Shape{}), Contains("LayerNorm") && Contains("[]"));
  CHECK_THROWS_WITH(nn::LayerNorm(Shape{3, 0}), Contains("LayerNorm") && Contains("[3, 0]"));
}

// -- BatchNorm1d ----------------------------------------------------------------------------

TEST_CASE("BatchNorm1d in training mode matches PyTorch on 7x5 and 7x5x3 batches",
          "[nn][layers][norm]") {
  nn::BatchNorm1d flat(5);
  check_layer("batch_norm [7,5] train", flat);
  nn::BatchNorm1d sequence(5);
  check_layer("batch_norm [7,5,3] train", sequence);
}

TEST_CASE("BatchNorm1d running stats and eval outputs match PyTorch after 3 steps",
          "[nn][layers][norm]") {
  nn::BatchNorm1d layer(5);
  check_batch_norm_steps("batch_norm [7,5] steps", layer, 3);
  CHECK(layer.num_batches_tracked.item() == 3.f);
}

TEST_CASE("BatchNorm1d with momentum 0.3 and eps 1e-3 on 7x5x3 batches matches PyTorch",
          "[nn][layers][norm]") {
  nn::BatchNorm1d layer(5, 1e-3f, 0.3f);
  check_batch_norm_steps("batch_norm [7,5,3] steps momentum 0.3 eps 1e-3", layer, 3);
}

TEST_CASE("BatchNorm1d with momentum None keeps a cumulative average like PyTorch",
          "[nn][layers][norm]") {
  nn::BatchNorm1d layer(5, 1e-5f, std::nullopt);
  check_batch_norm_steps("batch_norm [7,5] steps momentum None", layer, 3);
}

TEST_CASE("BatchNorm1d without affine parameters matches PyTorch", "[nn][layers][norm]") {
  nn::BatchNorm1d layer(5, 1e-5f, 0.1f, /*affine=*/false);
  CHECK(layer.parameters().empty());
  check_batch_norm_steps("batch_norm [7,5] steps no affine", layer, 3);
}

TEST_CASE("BatchNorm1d without running stats uses batch statistics in eval mode too",
          "[nn][layers][norm]") {
  nn::BatchNorm1d layer(5, 1e-5f, 0.1f, true, /*track_running_stats=*/false);
  CHECK(layer.named_buffers().empty());
  check_batch_norm_steps("batch_norm [7,5] no running stats", layer, 1);
}

TEST_CASE("BatchNorm1d registers PyTorch's parameter and buffer names", "[nn][layers][norm]") {
  nn::BatchNorm1d layer(3);
  std::vector<std::string> names;
  for (const auto& entry : layer.state_dict()) names.push_back(entry.first);
  CHECK(names == std::vector<std::string>{"weight", "bias", "running_mean", "running_var",
                                          "num_batches_tracked"});
  CHECK(layer.parameters().size() == 2);
  CHECK(layer.running_mean.to_vector() == std::vector<float>(3, 0.f));
  CHECK(layer.running_var.to_vector() == std::vector<float>(3, 1.f));
  CHECK(layer.num_batches_tracked.shape() == Shape{});
  CHECK(layer.num_batches_tracked.item() == 0.f);
  nn::BatchNorm1d bare(3, 1e-5f, 0.1f, false, false);
  CHECK(bare.state_dict().empty());
}

TEST_CASE("BatchNorm1d updates running stats in place without recording autograd",
          "[nn][layers][norm]") {
  nn::BatchNorm1d layer(5);
  const uint64_t version = layer.running_mean.version();
  const Tensor y = layer(randn({7, 5}, true));
  CHECK(layer.running_mean.version() > version);
  CHECK_FALSE(layer.running_mean.requires_grad());
  CHECK_FALSE(layer.running_var.requires_grad());
  CHECK(layer.running_mean.grad_fn() == nullptr);
  y.sum().backward();  // the in-place update touched nothing the graph saved
  // Eval mode leaves the running stats alone.
  layer.eval();
  const std::vector<float> before = layer.running_mean.to_vector();
  layer(randn({7, 5}));
  CHECK(layer.running_mean.to_vector() == before);
  CHECK(layer.num_batches_tracked.item() == 1.f);
}

TEST_CASE("BatchNorm1d rejects wrong ranks, feature counts and single-value batches",
          "[nn][layers][norm]") {
  nn::BatchNorm1d layer(5);
  CHECK_THROWS_WITH(layer(zeros({7})), Contains("BatchNorm1d") && Contains("[7]"));
  CHECK_THROWS_WITH(layer(zeros({7, 5, 3, 2})), Contains("2-d") && Contains("[7, 5, 3, 2]"));
  CHECK_THROWS_WITH(layer(zeros({7, 4})), Contains("expected 5 features") && Contains("[7, 4]"));
  CHECK_THROWS_WITH(layer(zeros({1, 5})),
                    Contains("more than 1 value per channel when training") && Contains("[1, 5]"));
  CHECK_THROWS_WITH(layer(zeros({1, 5, 1})), Contains("more than 1 value per channel"));
  CHECK_NOTHROW(layer(zeros({1, 5, 2})));  // two values per channel
  layer.eval();
  CHECK_NOTHROW(layer(zeros({1, 5})));  // eval mode uses the running stats
  nn::BatchNorm1d batch_stats_only(5, 1e-5f, 0.1f, true, false);
  batch_stats_only.eval();
  CHECK_THROWS_WITH(batch_stats_only(zeros({1, 5})), Contains("more than 1 value per channel"));
  CHECK_THROWS_WITH(nn::BatchNorm1d(0), Contains("BatchNorm1d") && Contains("positive"));
}

// -- Identity and Flatten -------------------------------------------------------------------

TEST_CASE("Identity returns its input", "[nn][layers]") {
  nn::Identity identity;
  const Tensor x = randn({7, 5}, true);
  const Tensor y = identity(x);
  CHECK(y.impl() == x.impl());
  CHECK(identity.parameters().empty());
}

TEST_CASE("Flatten merges dims start_dim to end_dim, keeping values and gradients",
          "[nn][layers]") {
  const Tensor x = arange(0.f, 210.f).reshape({7, 5, 3, 2}).detach().requires_grad_();
  CHECK(nn::Flatten()(x).shape() == Shape{7, 30});
  CHECK(nn::Flatten(0, 1)(x).shape() == Shape{35, 3, 2});
  CHECK(nn::Flatten(1, -2)(x).shape() == Shape{7, 15, 2});
  CHECK(nn::Flatten(-1, -1)(x).shape() == Shape{7, 5, 3, 2});
  const Tensor y = nn::Flatten()(x);
  CHECK(y.to_vector() == x.to_vector());
  (y * y).sum().backward();
  CHECK(x.grad().to_vector() == (2.f * x.detach()).to_vector());
}

TEST_CASE("Flatten rejects dims out of range and start after end", "[nn][layers]") {
  CHECK_THROWS_WITH(nn::Flatten()(zeros({7})), Contains("flatten"));
  CHECK_THROWS_WITH(nn::Flatten(0, 5)(zeros({7, 5})), Contains("flatten"));
  CHECK_THROWS_WITH(nn::Flatten(2, 1)(zeros({7, 5, 3})),
                    Contains("flatten") && Contains("start_dim"));
}
