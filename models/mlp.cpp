#include <ember/error.h>
#include <ember/models/mlp.h>
#include <ember/nn/activation.h>
#include <ember/nn/dropout.h>
#include <ember/nn/linear.h>

#include <set>

namespace ember::models {

void append_activation(nn::Sequential& layers, const std::string& name) {
  if (name == "relu") {
    layers.push_back(nn::ReLU());
  } else if (name == "tanh") {
    layers.push_back(nn::Tanh());
  } else if (name == "gelu") {
    layers.push_back(nn::GELU());
  } else if (name == "sigmoid") {
    layers.push_back(nn::Sigmoid());
  } else {
    layers.push_back(nn::LeakyReLU());
  }
}

nn::Sequential mlp(int64_t inputs, const std::vector<int64_t>& widths,
                   const std::string& activation, float dropout) {
  nn::Sequential block;
  int64_t width = inputs;
  for (int64_t next : widths) {
    block.push_back(nn::Linear(width, next));
    append_activation(block, activation);
    if (dropout > 0.f) block.push_back(nn::Dropout(dropout));
    width = next;
  }
  return block;
}

void check_mlp(const std::string& model, int64_t inputs, const std::string& field,
               const std::vector<int64_t>& widths, const std::string& activation, float dropout) {
  if (inputs < 1) throw Error(model + ": inputs must be >= 1, got " + std::to_string(inputs));
  for (int64_t width : widths) {
    if (width < 1) {
      throw Error(model + ": " + field + " widths must be >= 1, got " + std::to_string(width));
    }
  }
  if (!(dropout >= 0.f && dropout < 1.f)) {
    throw Error(model + ": dropout must be in [0, 1), got " + std::to_string(dropout));
  }
  const std::set<std::string> activations = {"gelu", "leaky_relu", "relu", "sigmoid", "tanh"};
  if (!activations.count(activation)) {
    std::string known;
    for (const std::string& name : activations) known += (known.empty() ? "" : ", ") + name;
    throw Error(model + ": unknown activation \"" + activation + "\" (" + known + ")");
  }
}

}  // namespace ember::models
