#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/ensemble/ensemble.h>

namespace ember::models {

void Ensemble::check_size(int64_t members) {
  if (members < 1)
    throw Error("Ensemble: needs at least one member, got " + std::to_string(members));
}

void Ensemble::throw_wrong_type(int64_t k) const {
  throw Error("Ensemble: member " + std::to_string(k) + " is a " + member(k).type_name() +
              ", not the type asked for");
}

nn::Module& Ensemble::member(int64_t k) const {
  if (k < 0 || k >= size()) {
    throw Error("Ensemble: member " + std::to_string(k) + " is out of range for " +
                std::to_string(size()) + " members");
  }
  return *modules_[static_cast<size_t>(k)];
}

std::vector<Tensor> Ensemble::member_outputs(int64_t k, const Tensor& x) const {
  member(k);  // range check
  return forwards_[static_cast<size_t>(k)](x);
}

std::vector<Tensor> Ensemble::stacked_outputs(const Tensor& x) const {
  if (modules_.empty()) throw Error("Ensemble: no members");
  std::vector<std::vector<Tensor>> per_task;
  for (int64_t k = 0; k < size(); ++k) {
    std::vector<Tensor> outputs = member_outputs(k, x);
    if (k == 0) per_task.resize(outputs.size());
    if (outputs.size() != per_task.size()) {
      throw Error("Ensemble: member " + std::to_string(k) + " gave " +
                  std::to_string(outputs.size()) + " outputs, member 0 gave " +
                  std::to_string(per_task.size()));
    }
    for (size_t t = 0; t < outputs.size(); ++t) per_task[t].push_back(std::move(outputs[t]));
  }
  std::vector<Tensor> stacked;
  for (const auto& outputs : per_task) stacked.push_back(stack(outputs, 0));
  return stacked;
}

}  // namespace ember::models
