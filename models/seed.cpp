#include <ember/core/ops.h>
#include <ember/models/seed.h>

namespace ember::models {

std::vector<Tensor> MultiTaskModel::forward(const Tensor& x) {
  Tensor h = shared_layers(x);
  std::vector<Tensor> outputs;
  outputs.reserve(task_specific_layers.size());
  for (auto& layer : task_specific_layers) outputs.push_back(layer(h));
  return outputs;
}

EnsembleModel::EnsembleModel(int num_models) {
  for (int i = 0; i < num_models; ++i) {
    models.push_back(nn::Sequential(nn::Linear(10, 50), nn::ReLU(), nn::Linear(50, 1)));
  }
}

std::vector<Tensor> EnsembleModel::member_outputs(const Tensor& x) {
  std::vector<Tensor> outputs;
  outputs.reserve(models.size());
  for (auto& model : models) outputs.push_back(model(x));
  return outputs;
}

Tensor EnsembleModel::forward(const Tensor& x) { return mean(stack(member_outputs(x)), {0}); }

}  // namespace ember::models
