#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/multitask/weighting.h>

namespace ember::models::mtl::detail {

Tensor loss_vector(const char* method, const std::vector<Tensor>& losses, int64_t tasks) {
  if (static_cast<int64_t>(losses.size()) != tasks) {
    throw Error(std::string(method) + ": " + std::to_string(losses.size()) + " losses for " +
                std::to_string(tasks) + " tasks");
  }
  std::vector<Tensor> scalars;
  for (size_t i = 0; i < losses.size(); ++i) {
    if (!losses[i].defined() || losses[i].numel() != 1) {
      throw Error(std::string(method) + ": the loss of task " + std::to_string(i) +
                  " is not a single number");
    }
    scalars.push_back(losses[i].reshape({1}));
  }
  return cat(scalars);  // [T]
}

}  // namespace ember::models::mtl::detail
