#include <ember/core/autograd.h>
#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/ensemble/batched.h>
#include <ember/models/mlp.h>
#include <ember/nn/batched_linear.h>
#include <ember/nn/dropout.h>

#include <map>

namespace ember::models {

namespace {

const MultiTaskNetConfig& checked(int64_t members, const MultiTaskNetConfig& config) {
  if (members < 1) {
    throw Error("BatchedMLP: needs at least one member, got " + std::to_string(members));
  }
  check_config(config, "BatchedMLP");
  return config;
}

bool same_architecture(const MultiTaskNetConfig& a, const MultiTaskNetConfig& b) {
  if (a.tasks.size() != b.tasks.size()) return false;
  for (size_t t = 0; t < a.tasks.size(); ++t) {
    const Task &x = a.tasks[t], &y = b.tasks[t];
    if (x.name != y.name || x.type != y.type || x.output_size() != y.output_size()) return false;
  }
  return a.inputs == b.inputs && a.hidden == b.hidden && a.activation == b.activation &&
         a.dropout == b.dropout;
}

// Slice k of a stacked [K, ...] tensor, as a [...] copy.
Tensor member_slice(const Tensor& stacked, int64_t k) {
  return squeeze(narrow(stacked, 0, k, 1), 0);
}

}  // namespace

BatchedMLP::BatchedMLP(int64_t members, MultiTaskNetConfig config)
    : trunk(register_module("trunk", nn::Sequential())),
      heads(register_module("heads", nn::ModuleDict())),
      members_(members),
      config_(checked(members, config)) {
  int64_t width = config_.inputs;
  for (int64_t next : config_.hidden) {
    trunk.push_back(nn::BatchedLinear(members, width, next));
    append_activation(trunk, config_.activation);
    if (config_.dropout > 0.f) trunk.push_back(nn::Dropout(config_.dropout));
    width = next;
  }
  for (const Task& task : config_.tasks)
    heads.insert(task.name, nn::BatchedLinear(members, width, task.output_size()));
}

BatchedMLP BatchedMLP::from_ensemble(const Ensemble& ensemble) {
  const MultiTaskNetConfig& config = ensemble.member_as<MultiTaskNet>(0).config();
  std::map<std::string, std::vector<Tensor>> per_name;
  for (int64_t k = 0; k < ensemble.size(); ++k) {
    const auto& member = ensemble.member_as<MultiTaskNet>(k);
    if (!same_architecture(member.config(), config)) {
      throw Error("BatchedMLP::from_ensemble: member " + std::to_string(k) +
                  " has another architecture than member 0");
    }
    for (const auto& [name, value] : member.state_dict()) per_name[name].push_back(value);
  }
  BatchedMLP batched(ensemble.size(), config);
  NoGradGuard no_grad;
  nn::NamedTensors stacked;
  for (const auto& [name, values] : per_name) stacked.emplace_back(name, stack(values, 0));
  batched.load_state_dict(stacked);
  return batched;
}

BatchedMLP BatchedMLP::from_seed(const EnsembleModel& seed) {
  // The seed's member k is Sequential(Linear(10, 50), ReLU(), Linear(50, 1)): its entries
  // "models.<k>.0.*" are the trunk's and "models.<k>.2.*" the head's.
  const int64_t members = static_cast<int64_t>(seed.models.size());
  BatchedMLP batched(members, {.inputs = 10, .hidden = {50}, .tasks = {regression("y")}});
  const std::map<std::string, std::string> renamed = {{"0.weight", "trunk.0.weight"},
                                                      {"0.bias", "trunk.0.bias"},
                                                      {"2.weight", "heads.y.weight"},
                                                      {"2.bias", "heads.y.bias"}};
  NoGradGuard no_grad;
  const nn::NamedTensors own = seed.state_dict();
  nn::NamedTensors stacked;
  for (const auto& [suffix, name] : renamed) {
    std::vector<Tensor> values;
    for (int64_t k = 0; k < members; ++k) {
      const std::string wanted = "models." + std::to_string(k) + "." + suffix;
      for (const auto& [seed_name, value] : own) {
        if (seed_name == wanted) values.push_back(value);
      }
    }
    stacked.emplace_back(name, stack(values, 0));
  }
  batched.load_state_dict(stacked);
  return batched;
}

Ensemble BatchedMLP::to_ensemble() const {
  Ensemble ensemble(members_, [&](int64_t) { return MultiTaskNet(config_); });
  NoGradGuard no_grad;
  const nn::NamedTensors stacked = state_dict();
  for (int64_t k = 0; k < members_; ++k) {
    nn::NamedTensors slices;
    for (const auto& [name, value] : stacked) slices.emplace_back(name, member_slice(value, k));
    ensemble.member(k).load_state_dict(slices);
  }
  return ensemble;
}

std::vector<Tensor> BatchedMLP::forward(const Tensor& x) {
  // The layers work member-minor ([B, K, ...], see batched_linear); only a per-member input and
  // the heads' outputs, the narrowest tensors of the model, are reordered.
  std::vector<Tensor> outputs =
      trunk_then_heads(trunk, heads, x.dim() == 3 ? permute(x, {1, 0, 2}) : x);
  for (Tensor& output : outputs) output = permute(output, {1, 0, 2});  // [K, B, out]
  return outputs;
}

std::string BatchedMLP::extra_repr() const { return "members=" + std::to_string(members_); }

}  // namespace ember::models
