#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/mlp.h>
#include <ember/models/multitask/mmoe.h>
#include <ember/nn/linear.h>

namespace ember::models {

namespace {
const MMoEConfig& checked(const MMoEConfig& config) {
  check_mlp("MMoE", config.inputs, "expert_hidden", config.expert_hidden, config.activation,
            config.dropout);
  check_mlp("MMoE", config.inputs, "tower_hidden", config.tower_hidden, config.activation,
            config.dropout);
  if (config.experts < 1) {
    throw Error("MMoE: experts must be >= 1, got " + std::to_string(config.experts));
  }
  if (config.expert_hidden.empty())
    throw Error("MMoE: expert_hidden is empty (experts need a layer)");
  check_tasks("MMoE", config.tasks);
  return config;
}
}  // namespace

Tensor mix_experts(const Tensor& gate, const std::vector<Tensor>& experts) {
  // stack: [B, E, W]; the gate broadcasts as [B, E, 1]; the sum runs over the experts.
  return sum(stack(experts, 1) * unsqueeze(gate, 2), {1});
}

MMoE::MMoE(MMoEConfig config)
    : experts(register_module("experts", nn::ModuleList())),
      gates(register_module("gates", nn::ModuleDict())),
      towers(register_module("towers", nn::ModuleDict())),
      config_(checked(config)) {
  for (int64_t i = 0; i < config_.experts; ++i) {
    experts.push_back(
        mlp(config_.inputs, config_.expert_hidden, config_.activation, config_.dropout));
  }
  for (const Task& task : config_.tasks)
    gates.insert(task.name, nn::Linear(config_.inputs, config_.experts));
  const int64_t width = config_.expert_hidden.back();
  for (const Task& task : config_.tasks) {
    nn::Sequential tower = mlp(width, config_.tower_hidden, config_.activation, config_.dropout);
    tower.push_back(nn::Linear(config_.tower_hidden.empty() ? width : config_.tower_hidden.back(),
                               task.output_size()));
    towers.insert(task.name, std::move(tower));
  }
}

std::vector<Tensor> MMoE::gate_weights(const Tensor& x) {
  std::vector<Tensor> weights;
  for (const auto& [name, gate] : gates) weights.push_back(softmax((*gate)(x), -1));
  return weights;
}

std::vector<Tensor> MMoE::forward(const Tensor& x) {
  std::vector<Tensor> expert_outputs;
  expert_outputs.reserve(experts.size());
  for (auto& expert : experts) expert_outputs.push_back(expert(x));
  const std::vector<Tensor> weights = gate_weights(x);
  std::vector<Tensor> outputs;
  size_t k = 0;
  for (const auto& [name, tower] : towers)
    outputs.push_back((*tower)(mix_experts(weights[k++], expert_outputs)));
  return outputs;
}

std::vector<Tensor> MMoE::shared_parameters() const { return experts.parameters(); }

}  // namespace ember::models
