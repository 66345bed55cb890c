// nn::Module: registration, PyTorch's parameter names, state dicts, modes and printing.

#include <catch2/catch.hpp>

#include <filesystem>

#include <ember/ember.h>

using namespace ember;
using Catch::Contains;

namespace {

// The seed's multi-task model (models/seed.h), written as DESIGN.md reads.
using models::MultiTaskModel;

std::vector<std::string> names_of(const nn::NamedTensors& tensors) {
  std::vector<std::string> names;
  for (const auto& entry : tensors) names.push_back(entry.first);
  return names;
}

}  // namespace

TEST_CASE("the seed model's parameters carry PyTorch's names in PyTorch's order", "[nn]") {
  MultiTaskModel model;
  CHECK(names_of(model.named_parameters()) ==
        std::vector<std::string>{"shared_layers.0.weight", "shared_layers.0.bias",
                                 "shared_layers.2.weight", "shared_layers.2.bias",
                                 "task_specific_layers.0.weight", "task_specific_layers.0.bias",
                                 "task_specific_layers.1.weight", "task_specific_layers.1.bias",
                                 "task_specific_layers.2.weight", "task_specific_layers.2.bias"});
  CHECK(model.num_parameters() == 10 * 50 + 50 + 50 * 10 + 10 + 3 * (10 + 1));
  CHECK(model.named_parameters()[0].second.shape() == Shape{50, 10});
}

TEST_CASE("the seed model runs forward and backward", "[nn]") {
  manual_seed(0);
  MultiTaskModel model;
  const std::vector<Tensor> outputs = model.forward(randn({7, 10}));
  REQUIRE(outputs.size() == 3);
  CHECK(outputs[0].shape() == Shape{7, 1});
  (outputs[0].sum() + outputs[1].sum() + outputs[2].sum()).backward();
  for (const Tensor& p : model.parameters()) CHECK(p.grad().defined());
  model.zero_grad();
  for (const Tensor& p : model.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("references from register_module survive moving the parent", "[nn]") {
  MultiTaskModel original;
  const Tensor first_weight = original.named_parameters()[0].second;
  MultiTaskModel moved = std::move(original);
  CHECK(moved.shared_layers.size() == 3);
  CHECK(moved.named_parameters()[0].second.impl() == first_weight.impl());
  CHECK(moved.forward(zeros({2, 10})).size() == 3);
}

TEST_CASE("Linear initialises within PyTorch's bound 1/sqrt(in)", "[nn]") {
  manual_seed(0);
  nn::Linear layer(16, 4);
  for (const Tensor& p : layer.parameters()) {
    CHECK(max(abs(p.flatten()), 0).values.item() <= 0.25f);
    CHECK(p.requires_grad());
  }
  nn::Linear no_bias(3, 2, false);
  CHECK(no_bias.parameters().size() == 1);
  CHECK_THROWS_WITH(nn::Linear(0, 3), Contains("Linear") && Contains("positive"));
}

TEST_CASE("ModuleDict names parameters by key", "[nn]") {
  struct Heads : nn::Module {
    nn::ModuleDict& heads = register_module("heads", nn::ModuleDict());
    Heads() {
      heads.insert("digit", nn::Linear(4, 10));
      heads.insert("parity", nn::Linear(4, 1));
    }
  } model;
  CHECK(names_of(model.named_parameters()) ==
        std::vector<std::string>{"heads.digit.weight", "heads.digit.bias", "heads.parity.weight",
                                 "heads.parity.bias"});
  CHECK(model.heads["parity"](zeros({2, 4})).shape() == Shape{2, 1});
  CHECK_THROWS_WITH(model.heads["missing"], Contains("missing") && Contains("digit, parity"));
}

TEST_CASE("Sequential applies its layers in order, and an empty one passes its input on", "[nn]") {
  nn::Sequential relu_twice(nn::ReLU(), nn::Linear(2, 2, false), nn::ReLU());
  relu_twice.at<nn::Linear>(1).weight.detach().fill_(1.f);
  const Tensor x = tensor({-1.f, 2.f, 3.f, -4.f}).reshape({2, 2});
  CHECK(relu_twice(x).to_vector() == std::vector<float>{2.f, 2.f, 3.f, 3.f});
  nn::Sequential none;
  CHECK(none(x).to_vector() == x.to_vector());
}

TEST_CASE("ModuleList and ModuleDict hold any module, reached by type", "[nn]") {
  // A network whose forward returns a list (not a Layer), next to a Sequential and a Linear.
  struct TwoOutputs : nn::Module {
    nn::Linear& a = register_module("a", nn::Linear(3, 1));
    nn::Linear& b = register_module("b", nn::Linear(3, 2));
    std::vector<Tensor> forward(const Tensor& x) { return {a(x), b(x)}; }
  };
  nn::ModuleList list(TwoOutputs(), nn::Sequential(nn::Linear(3, 4), nn::ReLU()), nn::Linear(3, 5));
  nn::ModuleDict dict;
  dict.insert("net", TwoOutputs());
  dict.insert("inner", nn::ModuleList(nn::Linear(2, 2)));
  CHECK(names_of(list.named_parameters()) ==
        std::vector<std::string>{"0.a.weight", "0.a.bias", "0.b.weight", "0.b.bias", "1.0.weight",
                                 "1.0.bias", "2.weight", "2.bias"});
  CHECK(names_of(dict.named_parameters()) ==
        std::vector<std::string>{"net.a.weight", "net.a.bias", "net.b.weight", "net.b.bias",
                                 "inner.0.weight", "inner.0.bias"});
  const Tensor x = zeros({2, 3});
  CHECK(list.at<TwoOutputs>(0).forward(x)[1].shape() == Shape{2, 2});
  CHECK(list.at<nn::Sequential>(1)(x).shape() == Shape{2, 4});
  CHECK(list[2](x).shape() == Shape{2, 5});  // a layer is callable as a Module
  CHECK(dict.at<nn::ModuleList>("inner").size() == 1);
  CHECK(dict.at<TwoOutputs>("net").forward(x).size() == 2);
  CHECK_THROWS_WITH(list.at<nn::Linear>(1), "ModuleList: element 1 is a Sequential, not a Linear");
  CHECK_THROWS_WITH(dict.at<nn::Linear>("inner"),
                    "ModuleDict: \"inner\" is a ModuleList, not a Linear");
  CHECK_THROWS_WITH(list.at<nn::Linear>(3), Contains("index 3 is out of range for 3"));
  CHECK_THROWS_WITH(list[0](x), Contains("TwoOutputs") && Contains("single-tensor forward"));
  int called = 0;
  for (nn::Module& module : list) called += module.is_training();
  CHECK(called == 3);
}

TEST_CASE("registering a name twice or a dotted name is an error", "[nn][errors]") {
  nn::Module module;
  module.register_parameter("w", zeros({2}));
  CHECK_THROWS_WITH(module.register_parameter("w", zeros({2})), Contains("already registered"));
  CHECK_THROWS_WITH(module.register_buffer("w", zeros({2})), Contains("already registered"));
  CHECK_THROWS_WITH(module.register_parameter("a.b", zeros({2})), Contains("'.'"));
  CHECK_THROWS_WITH(module.register_parameter("g", ones({1}, true) * 2.f), Contains("grad_fn"));
}

TEST_CASE("load_state_dict copies values and reports every problem at once", "[nn][errors]") {
  manual_seed(1);
  MultiTaskModel source, target;
  target.load_state_dict(source.state_dict());
  CHECK(target.state_dict()[0].second.to_vector() == source.state_dict()[0].second.to_vector());

  nn::NamedTensors bad = source.state_dict();
  bad.erase(bad.begin());                        // missing shared_layers.0.weight
  bad[0].second = zeros({7});                    // shared_layers.0.bias: wrong shape
  bad.emplace_back("extra.weight", zeros({1}));  // unexpected
  const std::vector<float> before = target.state_dict()[1].second.to_vector();
  CHECK_THROWS_WITH(target.load_state_dict(bad),
                    Contains("missing keys: shared_layers.0.weight") &&
                        Contains("unexpected keys: extra.weight") &&
                        Contains("shared_layers.0.bias (expected [50], got [7])"));
  // Nothing was half-loaded.
  CHECK(target.state_dict()[1].second.to_vector() == before);
  // Non-strict still refuses a shape mismatch but skips missing and unexpected keys.
  bad[0].second = zeros({50});
  target.load_state_dict(bad, false);
  CHECK(target.state_dict()[1].second.to_vector() == std::vector<float>(50, 0.f));
}

TEST_CASE("save and load round-trip through safetensors with metadata", "[nn]") {
  const auto path = std::filesystem::temp_directory_path() / "ember_test_module.safetensors";
  manual_seed(2);
  MultiTaskModel saved, loaded;
  saved.save(path.string());
  loaded.load(path.string());
  const Tensor x = randn({3, 10});
  CHECK(loaded.forward(x)[2].to_vector() == saved.forward(x)[2].to_vector());
  const SafetensorsFile file = load_safetensors(path.string());
  CHECK(file.metadata.at("module") == "MultiTaskModel");
  CHECK(file.metadata.count("ember_version") == 1);
  std::filesystem::remove(path);
}

TEST_CASE("train and eval propagate to children", "[nn]") {
  MultiTaskModel model;
  CHECK(model.shared_layers[1].is_training());
  model.eval();
  CHECK_FALSE(model.is_training());
  CHECK_FALSE(model.shared_layers[1].is_training());
  model.train();
  CHECK(model.task_specific_layers[2].is_training());
}

TEST_CASE("containers reject an index out of range", "[nn][errors]") {
  MultiTaskModel model;
  CHECK_THROWS_WITH(model.shared_layers[3], Contains("Sequential") && Contains("index 3"));
  CHECK_THROWS_WITH(model.task_specific_layers[5], Contains("ModuleList"));
}

TEST_CASE("printing a module matches PyTorch's repr", "[nn][print]") {
  MultiTaskModel model;
  CHECK(model.to_string() ==
        "MultiTaskModel(\n"
        "  (shared_layers): Sequential(\n"
        "    (0): Linear(in_features=10, out_features=50, bias=True)\n"
        "    (1): ReLU()\n"
        "    (2): Linear(in_features=50, out_features=10, bias=True)\n"
        "  )\n"
        "  (task_specific_layers): ModuleList(\n"
        "    (0): Linear(in_features=10, out_features=1, bias=True)\n"
        "    (1): Linear(in_features=10, out_features=1, bias=True)\n"
        "    (2): Linear(in_features=10, out_features=1, bias=True)\n"
        "  )\n"
        ")");
}
