// MMoE and PLE: output shapes per task type, gates that are softmaxes, finite-difference
// gradients, and PyTorch's names, outputs and gradients for the same tiny networks
// (fixtures: tests/reference/generate_mtl_architectures.py).

#include <catch2/catch.hpp>

#include <cmath>
#include <nlohmann/json.hpp>

#include <ember/ember.h>

using namespace ember;
using Catch::Matchers::Contains;

namespace {

const SafetensorsFile& fixtures() {
  static const SafetensorsFile file =
      load_safetensors(EMBER_REFERENCE_DIR "/mtl_architectures.safetensors");
  return file;
}

std::vector<std::string> names_of(const nn::NamedTensors& tensors) {
  std::vector<std::string> names;
  for (const auto& entry : tensors) names.push_back(entry.first);
  return names;
}

// Float32 math against float64 references rounded to float32, as in test_seed_models.cpp:
// 1e-5 relative, plus 1e-6 absolute for entries that cancel to near zero.
void check_close(const Tensor& actual, const Tensor& expected, const std::string& what) {
  REQUIRE(actual.shape() == expected.shape());
  for (int64_t i = 0; i < actual.numel(); ++i) {
    const double a = actual.data()[i], e = expected.data()[i];
    INFO(what << " element " << i << ": ember " << a << ", PyTorch " << e);
    REQUIRE(std::fabs(a - e) <= 1e-5 * std::fabs(e) + 1e-6);
  }
}

// Every row of `gate` [B, E] is positive and sums to 1.
void check_softmax_rows(const Tensor& gate) {
  REQUIRE(gate.dim() == 2);
  const std::vector<float> rows = sum(gate, {1}).to_vector();
  for (float total : rows) CHECK(total == Approx(1.f).margin(1e-6));
  for (float w : gate.to_vector()) CHECK(w > 0.f);
}

// Loads PyTorch's weights into `model`, runs L = Σ_k sum(out_k · v_k) on the fixture batch,
// and compares names, outputs, dL/dx and every parameter's gradient.
template <class Model>
void check_against_pytorch(Model& model, const std::string& prefix) {
  const auto expected_names = nlohmann::json::parse(fixtures().metadata.at(prefix + "/names"))
                                  .get<std::vector<std::string>>();
  REQUIRE(names_of(model.named_parameters()) == expected_names);
  nn::NamedTensors weights;
  for (const std::string& name : expected_names) {
    weights.emplace_back(name, fixtures().at(prefix + "/param/" + name));
  }
  model.load_state_dict(weights);
  const Tensor x = clone(fixtures().at(prefix + "/x")).requires_grad_(true);
  const std::vector<Tensor> outputs = model.forward(x);
  Tensor loss = zeros({});
  for (size_t k = 0; k < outputs.size(); ++k) {
    const std::string key = prefix + "/out" + std::to_string(k);
    check_close(outputs[k], fixtures().at(key), key);
    loss = loss + sum(outputs[k] * fixtures().at(prefix + "/v" + std::to_string(k)));
  }
  loss.backward();
  check_close(x.grad(), fixtures().at(prefix + "/x_grad"), prefix + " dL/dx");
  for (const auto& [name, parameter] : model.named_parameters()) {
    check_close(parameter.grad(), fixtures().at(prefix + "/grad/" + name), "gradient of " + name);
  }
}

models::MMoEConfig tiny_mmoe() {
  return {.inputs = 5,
          .experts = 3,
          .expert_hidden = {4},
          .tower_hidden = {3},
          .tasks = {models::regression("y"), models::multiclass("c", 3)}};
}

models::PLEConfig tiny_ple() {
  return {.inputs = 5,
          .layers = 2,
          .experts_per_task = 2,
          .shared_experts = 1,
          .expert_hidden = {4},
          .tasks = {models::regression("y"), models::binary("b"), models::multiclass("c", 3)}};
}

}  // namespace

TEST_CASE("MMoE matches PyTorch: names, outputs, gates, input and parameter gradients",
          "[models][reference]") {
  models::MMoE model(tiny_mmoe());
  check_against_pytorch(model, "mmoe");
  const std::vector<Tensor> gates = model.gate_weights(fixtures().at("mmoe/x"));
  REQUIRE(gates.size() == 2);
  for (size_t k = 0; k < gates.size(); ++k) {
    check_close(gates[k], fixtures().at("mmoe/gate" + std::to_string(k)), "gate");
  }
}

TEST_CASE("PLE matches PyTorch: names, outputs, gates, input and parameter gradients",
          "[models][reference]") {
  models::PLE model(tiny_ple());
  check_against_pytorch(model, "ple");
  const auto gates = model.gate_weights(fixtures().at("ple/x"));
  REQUIRE(gates.size() == 2);
  REQUIRE(gates[0].size() == 4);  // three task gates and the shared gate
  REQUIRE(gates[1].size() == 3);  // the last layer has no shared gate
  for (size_t j = 0; j < gates.size(); ++j) {
    for (size_t i = 0; i < gates[j].size(); ++i) {
      const std::string key = "ple/gate" + std::to_string(j) + "_" + std::to_string(i);
      check_close(gates[j][i], fixtures().at(key), key);
    }
  }
}

TEST_CASE("MMoE and PLE give one output per task, sized by its type", "[models]") {
  manual_seed(0);
  const std::vector<models::Task> tasks = {models::multiclass("digit", 10), models::binary("odd"),
                                           models::regression("size")};
  models::MMoE mmoe({.inputs = 6,
                     .experts = 4,
                     .expert_hidden = {8, 5},
                     .tower_hidden = {3},
                     .dropout = 0.2f,
                     .tasks = tasks});
  models::PLE ple({.inputs = 6,
                   .layers = 3,
                   .experts_per_task = 1,
                   .shared_experts = 2,
                   .expert_hidden = {5},
                   .activation = "tanh",
                   .tasks = tasks});
  const Tensor x = randn({7, 6});
  for (const std::vector<Tensor>& outputs : {mmoe.forward(x), ple.forward(x)}) {
    REQUIRE(outputs.size() == 3);
    CHECK(outputs[0].shape() == Shape{7, 10});
    CHECK(outputs[1].shape() == Shape{7, 1});
    CHECK(outputs[2].shape() == Shape{7, 1});
  }
}

TEST_CASE("MMoE's and PLE's gates are softmaxes over their experts", "[models]") {
  manual_seed(1);
  models::MMoE mmoe(tiny_mmoe());
  const Tensor x = randn({9, 5}) * 3.f;
  for (const Tensor& gate : mmoe.gate_weights(x)) {
    CHECK(gate.shape() == Shape{9, 3});
    check_softmax_rows(gate);
  }
  models::PLE ple(tiny_ple());
  const auto layers = ple.gate_weights(x);
  // Task gates mix 2 own + 1 shared experts; the first layer's shared gate all 3·2 + 1.
  CHECK(layers[0][3].shape() == Shape{9, 7});
  for (const auto& gates : layers) {
    for (const Tensor& gate : gates) check_softmax_rows(gate);
  }
  CHECK(layers[1][0].shape() == Shape{9, 3});
}

TEST_CASE("gradcheck: a tiny MMoE and PLE w.r.t. the inputs and every parameter",
          "[models][gradcheck]") {
  // tanh keeps the networks smooth, so finite differences hold everywhere.
  manual_seed(2);
  models::MMoEConfig mmoe_config = tiny_mmoe();
  mmoe_config.activation = "tanh";
  models::MMoE mmoe(mmoe_config);
  models::PLEConfig ple_config = tiny_ple();
  ple_config.activation = "tanh";
  models::PLE ple(ple_config);
  const Tensor x = randn({3, 5});
  auto check = [&](nn::Module& model, auto forward) {
    // Every output side by side: [B, Σ output sizes].
    const auto all_outputs = [&](const Tensor& in) { return cat(forward(in), 1); };
    const Tensor v = randn(all_outputs(x).shape());  // the weights of L's terms
    // Inputs: gradcheck's own routine.
    const GradcheckReport report =
        gradcheck([&](const std::vector<Tensor>& in) { return all_outputs(in[0]); }, {x});
    INFO(report.summary());
    CHECK(report.passed);
    // Parameters: the same test by hand, because gradcheck cannot swap a module's
    // parameters for its own leaves. L = sum(v · outputs), eps and tolerances as gradcheck's.
    const float eps = 1e-3f, atol = 1e-3f, rtol = 1e-2f;
    model.zero_grad();
    sum(all_outputs(x) * v).backward();
    NoGradGuard no_grad;
    for (const auto& [name, parameter] : model.named_parameters()) {
      for (int64_t i = 0; i < parameter.numel(); ++i) {
        float& w = parameter.data()[i];
        const float original = w;
        w = original + eps;
        const double plus = sum(all_outputs(x) * v).item();
        w = original - eps;
        const double minus = sum(all_outputs(x) * v).item();
        w = original;
        const double numeric = (plus - minus) / (2.0 * eps);
        const double analytic = parameter.grad().data()[i];
        INFO(name << "[" << i << "]: autograd " << analytic << ", finite differences " << numeric);
        REQUIRE(std::fabs(analytic - numeric) <= atol + rtol * std::fabs(numeric));
      }
    }
  };
  check(mmoe, [&](const Tensor& in) { return mmoe.forward(in); });
  check(ple, [&](const Tensor& in) { return ple.forward(in); });
}

TEST_CASE(
    "shared_parameters: the experts of MMoE, the shared experts and gates of PLE, the "
    "trunk of MultiTaskNet",
    "[models]") {
  models::MMoE mmoe(tiny_mmoe());
  CHECK(mmoe.shared_parameters().size() == 6);  // 3 experts × (weight, bias)
  CHECK(mmoe.shared_parameters()[0].data() == mmoe.named_parameters()[0].second.data());
  models::PLE ple(tiny_ple());
  // Per layer one shared expert (2 tensors); the first layer's shared gate (2 tensors).
  std::vector<const float*> shared, expected;
  for (const Tensor& p : ple.shared_parameters()) shared.push_back(p.data());
  for (const auto& [name, p] : ple.named_parameters()) {
    if (name.find("shared") != std::string::npos) expected.push_back(p.data());
  }
  CHECK(shared.size() == 6);
  CHECK(shared == expected);
  models::MultiTaskNet net({.inputs = 3, .hidden = {4}, .tasks = {models::regression("y")}});
  CHECK(net.shared_parameters().size() == 2);
  CHECK(net.shared_parameters()[1].data() == net.trunk[0].named_parameters()[1].second.data());
}

TEST_CASE("MMoE and PLE refuse bad configurations", "[models][errors]") {
  models::MMoEConfig mmoe = tiny_mmoe();
  mmoe.experts = 0;
  CHECK_THROWS_WITH(models::MMoE(mmoe), "MMoE: experts must be >= 1, got 0");
  mmoe = tiny_mmoe();
  mmoe.expert_hidden = {};
  CHECK_THROWS_WITH(models::MMoE(mmoe), Contains("MMoE: expert_hidden is empty"));
  mmoe = tiny_mmoe();
  mmoe.tower_hidden = {0};
  CHECK_THROWS_WITH(models::MMoE(mmoe), "MMoE: tower_hidden widths must be >= 1, got 0");
  models::PLEConfig ple = tiny_ple();
  ple.layers = 0;
  CHECK_THROWS_WITH(models::PLE(ple), "PLE: layers must be >= 1, got 0");
  ple = tiny_ple();
  ple.shared_experts = -1;
  CHECK_THROWS_WITH(models::PLE(ple), "PLE: shared_experts must be >= 1, got -1");
  ple = tiny_ple();
  ple.tasks = {};
  CHECK_THROWS_WITH(models::PLE(ple), "PLE: no tasks given");
}
