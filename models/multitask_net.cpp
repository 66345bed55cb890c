#include <ember/error.h>
#include <ember/models/mlp.h>
#include <ember/models/multitask_net.h>
#include <ember/nn/linear.h>

namespace ember::models {

void check_config(const MultiTaskNetConfig& config, const std::string& owner) {
  check_mlp(owner, config.inputs, "hidden", config.hidden, config.activation, config.dropout);
  check_tasks(owner, config.tasks);
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
  trunk = mlp(config_.inputs, config_.hidden, config_.activation, config_.dropout);
  const int64_t width = config_.hidden.empty() ? config_.inputs : config_.hidden.back();
  for (const Task& task : config_.tasks)
    heads.insert(task.name, nn::Linear(width, task.output_size()));
}

std::vector<Tensor> trunk_then_heads(nn::Sequential& trunk, const nn::ModuleDict& heads,
                                     const Tensor& x) {
  const Tensor h = trunk.size() == 0 ? x : trunk(x);
  std::vector<Tensor> outputs;
  outputs.reserve(heads.size());
  for (const auto& [name, head] : heads) outputs.push_back((*head)(h));
  return outputs;
}

std::vector<Tensor> MultiTaskNet::forward(const Tensor& x) {
  return trunk_then_heads(trunk, heads, x);
}

std::vector<Tensor> MultiTaskNet::shared_parameters() const { return trunk.parameters(); }

}  // namespace ember::models
