#include <ember/ember.h>
#include <ember/models/multitask_net.h>

#include <catch2/catch.hpp>

using namespace ember;

TEST_CASE("MultiTaskNet names its parameters like PyTorch and sizes each head for its task") {
  manual_seed(0);
  models::MultiTaskNet net({.inputs = 5,
                            .hidden = {8, 4},
                            .dropout = 0.1f,
                            .tasks = {models::multiclass("digit", 10), models::binary("odd"),
                                      models::regression("size")}});
  std::vector<std::string> names;
  for (const auto& [name, parameter] : net.named_parameters()) names.push_back(name);
  // Linear, ReLU, Dropout per hidden layer: the Linears are trunk.0 and trunk.3.
  CHECK(names == std::vector<std::string>{"trunk.0.weight", "trunk.0.bias", "trunk.3.weight",
                                          "trunk.3.bias", "heads.digit.weight", "heads.digit.bias",
                                          "heads.odd.weight", "heads.odd.bias", "heads.size.weight",
                                          "heads.size.bias"});
  const std::vector<Tensor> outputs = net.forward(randn({7, 5}));
  REQUIRE(outputs.size() == 3);
  CHECK(outputs[0].shape() == Shape{7, 10});
  CHECK(outputs[1].shape() == Shape{7, 1});
  CHECK(outputs[2].shape() == Shape{7, 1});
}

TEST_CASE("MultiTaskNet without hidden layers is one linear map per task") {
  manual_seed(0);
  models::MultiTaskNet net({.inputs = 3, .tasks = {models::regression("y")}});
  const Tensor x = randn({4, 3});
  const Tensor expected = matmul(x, net.heads["y"].named_parameters()[0].second.transpose(0, 1)) +
                          net.heads["y"].named_parameters()[1].second;
  const std::vector<float> got = net.forward(x)[0].to_vector(), want = expected.to_vector();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(1e-6));
}

TEST_CASE("MultiTaskNet refuses bad configurations") {
  const std::vector<models::Task> one = {models::regression("y")};
  CHECK_THROWS_WITH(models::MultiTaskNet({.inputs = 0, .tasks = one}),
                    "MultiTaskNet: inputs must be >= 1, got 0");
  CHECK_THROWS_WITH(models::MultiTaskNet({.inputs = 2, .hidden = {4, 0}, .tasks = one}),
                    "MultiTaskNet: hidden widths must be >= 1, got 0");
  CHECK_THROWS_WITH(models::MultiTaskNet({.inputs = 2, .activation = "swish", .tasks = one}),
                    Catch::StartsWith("MultiTaskNet: unknown activation \"swish\""));
  CHECK_THROWS_WITH(models::MultiTaskNet({.inputs = 2, .dropout = 1.f, .tasks = one}),
                    Catch::StartsWith("MultiTaskNet: dropout must be in [0, 1), got 1"));
  CHECK_THROWS_WITH(models::MultiTaskNet({.inputs = 2}), "MultiTaskNet: no tasks given");
  CHECK_THROWS_WITH(
      models::MultiTaskNet({.inputs = 2, .tasks = {models::binary("a"), models::binary("a")}}),
      "MultiTaskNet: two tasks are named \"a\"");
}
