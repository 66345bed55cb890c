#include <ember/error.h>
#include <ember/models/multitask_net.h>
#include <ember/nn/activation.h>
#include <ember/nn/dropout.h>
#include <ember/nn/linear.h>

#include <set>

namespace ember::models {

void append_activation(nn::Sequential& trunk, const std::string& name) {
  if (name == "relu") {
    trunk.push_back(nn::ReLU());
  } else if (name == "tanh") {
    trunk.push_back(nn::Tanh());
  } else if (name == "gelu") {
    trunk.push_back(nn::GELU());
  } else if (name == "sigmoid") {
    trunk.push_back(nn::Sigmoid());
  } else {
    trunk.push_back(nn::LeakyReLU());
  }
}

void check_config(const MultiTaskNetConfig& config, const std::string& owner) {
  if (config.inputs < 1) {
    throw Error(owner + ": inputs must be >= 1, got " + std::to_string(config.inputs));
  }
  for (int64_t width : config.hidden) {
    if (width < 1)
      throw Error(owner + ": hidden widths must be >= 1, got " + std::to_string(width));
  }
  if (!(config.dropout >= 0.f && config.dropout < 1.f)) {
    throw Error(owner + ": dropout must be in [0, 1), got " + std::to_string(config.dropout));
  }
  const std::set<std::string> activations = {"gelu", "leaky_relu", "relu", "sigmoid", "tanh"};
  if (!activations.count(config.activation)) {
    std::string known;
    for (const std::string& name : activations) known += (known.empty() ? "" : ", ") + name;
    throw Error(owner + ": unknown activation \"" + config.activation + "\" (" + known + ")");
  }
  if (config.tasks.empty()) throw Error(owner + ": no tasks given");
  std::set<std::string> names;
  for (const Task& task : config.tasks) {
    if (!names.insert(task.name).second) {
      throw Error(owner + ": two tasks are named \"" + task.name + "\"");
    }
  }
}

namespace {
const MultiTaskNetConfig& checked(const MultiTaskNetConfig& config) {
  check_config(config, "MultiTaskNet");
  return config;
}
}  // namespace

MultiTaskNet::MultiTaskNet(MultiTaskNetConfig config)
    : trunk(register_module("trunk", nn::Sequential())),
      heads(register_module("heads", nn::ModuleDict())),
      config_(checked(config)) {
  int64_t width = config_.inputs;
  for (int64_t next : config_.hidden) {
    trunk.push_back(nn::Linear(width, next));
    append_activation(trunk, config_.activation);
    if (config_.dropout > 0.f) trunk.push_back(nn::Dropout(config_.dropout));
    width = next;
  }
  for (const Task& task : config_.tasks)
    heads.insert(task.name, nn::Linear(width, task.output_size()));
}

std::vector<Tensor> MultiTaskNet::forward(const Tensor& x) {
  const Tensor h = trunk.size() == 0 ? x : trunk(x);
  std::vector<Tensor> outputs;
  outputs.reserve(heads.size());
  for (const auto& [name, head] : heads) outputs.push_back((*head)(h));
  return outputs;
}

}  // namespace ember::models
