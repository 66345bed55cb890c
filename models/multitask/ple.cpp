#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/mlp.h>
#include <ember/models/multitask/mmoe.h>
#include <ember/models/multitask/ple.h>

namespace ember::models {

namespace {
const PLEConfig& checked(const PLEConfig& config) {
  check_mlp("PLE", config.inputs, "expert_hidden", config.expert_hidden, config.activation,
            config.dropout);
  check_mlp("PLE", config.inputs, "tower_hidden", config.tower_hidden, config.activation,
            config.dropout);
  const std::pair<const char*, int64_t> counts[] = {{"layers", config.layers},
                                                    {"experts_per_task", config.experts_per_task},
                                                    {"shared_experts", config.shared_experts}};
  for (const auto& [field, value] : counts) {
    if (value < 1) {
      throw Error(std::string("PLE: ") + field + " must be >= 1, got " + std::to_string(value));
    }
  }
  if (config.expert_hidden.empty())
    throw Error("PLE: expert_hidden is empty (experts need a layer)");
  check_tasks("PLE", config.tasks);
  return config;
}

nn::Sequential expert(const PLEConfig& config, int64_t inputs) {
  return mlp(inputs, config.expert_hidden, config.activation, config.dropout);
}
}  // namespace

ExtractionLayer::ExtractionLayer(const PLEConfig& config, int64_t inputs, bool last)
    : task_experts(register_module("task_experts", nn::ModuleDict())),
      shared_experts(register_module("shared_experts", nn::ModuleList())),
      task_gates(register_module("task_gates", nn::ModuleDict())) {
  const int64_t tasks = static_cast<int64_t>(config.tasks.size());
  for (const Task& task : config.tasks) {
    nn::ModuleList& own = task_experts.insert(task.name, nn::ModuleList());
    for (int64_t i = 0; i < config.experts_per_task; ++i) own.push_back(expert(config, inputs));
  }
  for (int64_t i = 0; i < config.shared_experts; ++i)
    shared_experts.push_back(expert(config, inputs));
  for (const Task& task : config.tasks) {
    task_gates.insert(task.name,
                      nn::Linear(inputs, config.experts_per_task + config.shared_experts));
  }
  if (!last) {
    shared_gate = &register_module(
        "shared_gate", nn::Linear(inputs, tasks * config.experts_per_task + config.shared_experts));
  }
}

ExtractionLayer::Output ExtractionLayer::forward(const std::vector<Tensor>& task_inputs,
                                                 const Tensor& shared_input) {
  if (task_inputs.size() != task_gates.size()) {
    throw Error("ExtractionLayer: got " + std::to_string(task_inputs.size()) + " task inputs for " +
                std::to_string(task_gates.size()) + " tasks");
  }
  std::vector<Tensor> shared;
  for (auto& e : shared_experts) shared.push_back(e(shared_input));
  Output out;
  std::vector<Tensor> all;  // every task's experts, task by task, then the shared ones
  size_t k = 0;
  for (const auto& [name, module] : task_experts) {
    std::vector<Tensor> selected;  // task k's experts, then the shared ones
    for (auto& e : task_experts.at<nn::ModuleList>(name)) selected.push_back(e(task_inputs[k]));
    all.insert(all.end(), selected.begin(), selected.end());
    selected.insert(selected.end(), shared.begin(), shared.end());
    const Tensor gate = softmax(task_gates.at<nn::Linear>(name)(task_inputs[k]), -1);
    out.tasks.push_back(mix_experts(gate, selected));
    out.gates.push_back(gate);
    ++k;
  }
  if (shared_gate) {
    all.insert(all.end(), shared.begin(), shared.end());
    const Tensor gate = softmax((*shared_gate)(shared_input), -1);
    out.shared = mix_experts(gate, all);
    out.gates.push_back(gate);
  }
  return out;
}

std::vector<Tensor> ExtractionLayer::shared_parameters() const {
  std::vector<Tensor> out = shared_experts.parameters();
  if (shared_gate) {
    for (const Tensor& p : shared_gate->parameters()) out.push_back(p);
  }
  return out;
}

PLE::PLE(PLEConfig config)
    : layers(register_module("layers", nn::ModuleList())),
      towers(register_module("towers", nn::ModuleDict())),
      config_(checked(config)) {
  const int64_t width = config_.expert_hidden.back();
  for (int64_t j = 0; j < config_.layers; ++j) {
    layers.push_back(
        ExtractionLayer(config_, j == 0 ? config_.inputs : width, j + 1 == config_.layers));
  }
  for (const Task& task : config_.tasks) {
    nn::Sequential tower = mlp(width, config_.tower_hidden, config_.activation, config_.dropout);
    tower.push_back(nn::Linear(config_.tower_hidden.empty() ? width : config_.tower_hidden.back(),
                               task.output_size()));
    towers.insert(task.name, std::move(tower));
  }
}

ExtractionLayer::Output PLE::extract(const Tensor& x, std::vector<std::vector<Tensor>>* gates) {
  ExtractionLayer::Output h{std::vector<Tensor>(towers.size(), x), x, {}};
  for (size_t j = 0; j < layers.size(); ++j) {
    h = layers.at<ExtractionLayer>(j).forward(h.tasks, h.shared);
    if (gates) gates->push_back(h.gates);
  }
  return h;
}

std::vector<Tensor> PLE::forward(const Tensor& x) {
  const ExtractionLayer::Output h = extract(x, nullptr);
  std::vector<Tensor> outputs;
  size_t k = 0;
  for (const auto& [name, tower] : towers) outputs.push_back((*tower)(h.tasks[k++]));
  return outputs;
}

std::vector<std::vector<Tensor>> PLE::gate_weights(const Tensor& x) {
  std::vector<std::vector<Tensor>> gates;
  extract(x, &gates);
  return gates;
}

std::vector<Tensor> PLE::shared_parameters() const {
  std::vector<Tensor> out;
  for (size_t j = 0; j < layers.size(); ++j) {
    for (const Tensor& p : layers.at<ExtractionLayer>(j).shared_parameters()) out.push_back(p);
  }
  return out;
}

}  // namespace ember::models
