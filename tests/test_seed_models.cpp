// The seed's two models against PyTorch (fixtures: tests/reference/generate_models.py):
// same names, same outputs, same loss, same gradients; and a PyTorch-trained checkpoint
// predicting identically in ember.

#include <catch2/catch.hpp>

#include <cmath>
#include <nlohmann/json.hpp>

#include <ember/ember.h>

using namespace ember;

namespace {

const SafetensorsFile& fixtures() {
  static const SafetensorsFile file = load_safetensors(EMBER_REFERENCE_DIR "/models.safetensors");
  return file;
}

// Entries "<prefix><name>" of the fixture file, renamed to "<name>".
nn::NamedTensors with_prefix(const std::string& prefix) {
  nn::NamedTensors out;
  for (const auto& [name, tensor] : fixtures().tensors) {
    if (name.rfind(prefix, 0) == 0) out.emplace_back(name.substr(prefix.size()), tensor);
  }
  return out;
}

// Forward values and gradients of float32 math against float64 references rounded to
// float32: within 1e-5 relative, plus 1e-6 absolute for entries near zero, where a relative
// bound is meaningless (a sum of terms of size ~1 cancelling to ~1e-7 keeps float32's
// absolute rounding, ~1e-7, not a relative one).
void check_close(const Tensor& actual, const Tensor& expected, const std::string& what) {
  REQUIRE(actual.shape() == expected.shape());
  for (int64_t i = 0; i < actual.numel(); ++i) {
    const double a = actual.data()[i], e = expected.data()[i];
    INFO(what << " element " << i << ": ember " << a << ", PyTorch " << e);
    REQUIRE(std::fabs(a - e) <= 1e-5 * std::fabs(e) + 1e-6);
  }
}

Tensor mse(const Tensor& prediction, const Tensor& target) {
  return mean(pow(prediction - target, 2.f));
}

std::vector<std::string> names_of(const nn::NamedTensors& tensors) {
  std::vector<std::string> names;
  for (const auto& entry : tensors) names.push_back(entry.first);
  return names;
}

// Loads PyTorch's parameters into `model`, runs the loss, and compares everything.
template <class Model, class Loss>
void check_against_pytorch(Model& model, const std::string& prefix, Loss loss_of) {
  const auto expected_names = nlohmann::json::parse(fixtures().metadata.at(prefix + "/names"))
                                  .get<std::vector<std::string>>();
  CHECK(names_of(model.named_parameters()) == expected_names);
  model.load_state_dict(with_prefix(prefix + "/param/"));
  const Tensor loss = loss_of(model, fixtures().at(prefix + "/x"));
  check_close(loss, fixtures().at(prefix + "/loss"), prefix + " loss");
  loss.backward();
  for (const auto& [name, expected] : with_prefix(prefix + "/grad/")) {
    Tensor parameter;
    for (const auto& [own_name, p] : model.named_parameters()) {
      if (own_name == name) parameter = p;
    }
    REQUIRE(parameter.defined());
    check_close(parameter.grad(), expected, prefix + " gradient of " + name);
  }
}

}  // namespace

TEST_CASE("MultiTaskModel matches PyTorch: names, outputs, summed MSE, every gradient",
          "[models][reference]") {
  models::MultiTaskModel model;
  check_against_pytorch(model, "multitask", [](models::MultiTaskModel& m, const Tensor& x) {
    const std::vector<Tensor> outputs = m.forward(x);
    Tensor loss = zeros({});
    for (size_t i = 0; i < outputs.size(); ++i) {
      const std::string key = "multitask/out" + std::to_string(i);
      check_close(outputs[i], fixtures().at(key), key);
      loss = loss + mse(outputs[i], fixtures().at("multitask/target" + std::to_string(i)));
    }
    return loss;
  });
}

TEST_CASE("EnsembleModel matches PyTorch: names, averaged output, MSE, every gradient",
          "[models][reference]") {
  models::EnsembleModel model;
  check_against_pytorch(model, "ensemble", [](models::EnsembleModel& m, const Tensor& x) {
    const Tensor output = m.forward(x);
    check_close(output, fixtures().at("ensemble/out0"), "ensemble output");
    return mse(output, fixtures().at("ensemble/target0"));
  });
}

TEST_CASE("a MultiTaskModel trained in PyTorch predicts identically in ember",
          "[models][reference]") {
  models::MultiTaskModel model;
  model.load(EMBER_REFERENCE_DIR "/trained_multitask.safetensors");
  const std::vector<Tensor> outputs = model.forward(fixtures().at("trained/x"));
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string key = "trained/out" + std::to_string(i);
    // PyTorch computed these in float32 too, so allow float32 rounding of both sides.
    check_close(outputs[i], fixtures().at(key), key);
  }
}
