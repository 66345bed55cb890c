#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/task.h>
#include <ember/nn/loss.h>

#include <set>
#include <utility>

namespace ember::models {

std::string to_string(TaskType type) {
  switch (type) {
    case TaskType::regression:
      return "regression";
    case TaskType::binary:
      return "binary";
    case TaskType::multiclass:
      return "multiclass";
    case TaskType::gaussian:
      return "gaussian";
  }
  return "unknown";
}

int64_t Task::output_size() const {
  if (type == TaskType::multiclass) return classes;
  return type == TaskType::gaussian ? 2 : 1;
}

Task regression(std::string name) { return Task{std::move(name), TaskType::regression, 0}; }
Task binary(std::string name) { return Task{std::move(name), TaskType::binary, 0}; }
Task gaussian(std::string name) { return Task{std::move(name), TaskType::gaussian, 0}; }
Task multiclass(std::string name, int64_t classes) {
  if (classes < 2) {
    throw Error("multiclass task '" + name + "': needs at least 2 classes, got " +
                std::to_string(classes));
  }
  return Task{std::move(name), TaskType::multiclass, classes};
}

void check_tasks(const std::string& model, const std::vector<Task>& tasks) {
  if (tasks.empty()) throw Error(model + ": no tasks given");
  std::set<std::string> names;
  for (const Task& task : tasks) {
    if (!names.insert(task.name).second) {
      throw Error(model + ": two tasks are named \"" + task.name + "\"");
    }
  }
}

namespace {
[[noreturn]] void throw_shapes(const Task& task, const Tensor& output, const Tensor& target,
                               const std::string& expected) {
  throw Error("task '" + task.name + "' (" + to_string(task.type) + "): output " +
              to_string(output.shape()) + " and target " + to_string(target.shape()) +
              " do not fit; expected " + expected);
}
}  // namespace

// σ² = softplus(v) + 1e-6: positive and smooth, and the floor keeps log σ² and 1/σ² finite
// when softplus underflows (Lakshminarayanan et al. 2017, Section 2.2.1).
MeanVariance gaussian_mean_variance(const Tensor& output) {
  if (output.dim() != 2 || output.size(1) != 2) {
    throw Error("gaussian_mean_variance: expected an output [B, 2] (mean, raw variance), got " +
                to_string(output.shape()));
  }
  const Tensor mean = narrow(output, 1, 0, 1).reshape({-1});
  const Tensor variance = softplus(narrow(output, 1, 1, 1)).reshape({-1}) + 1e-6f;
  return {mean, variance};
}

Tensor task_loss(const Task& task, const Tensor& output, const Tensor& target) {
  if (task.type == TaskType::multiclass) {
    // output [B, C], target [B] of class indices
    if (output.dim() != 2 || output.size(1) != task.classes || target.dim() != 1 ||
        target.size(0) != output.size(0)) {
      throw_shapes(task, output, target,
                   "output [B, " + std::to_string(task.classes) + "] and target [B]");
    }
    return nn::cross_entropy(output, target);
  }
  if (task.type == TaskType::gaussian) {
    // output [B, 2], target [B] or [B, 1]
    if (output.dim() != 2 || output.size(1) != 2 || target.dim() < 1 || target.dim() > 2 ||
        target.numel() != output.size(0) || target.size(0) != output.size(0)) {
      throw_shapes(task, output, target, "output [B, 2] and target [B]");
    }
    const auto [mean, variance] = gaussian_mean_variance(output);
    return nn::gaussian_nll_loss(mean, target.reshape({-1}), variance);
  }
  // One value per sample on both sides: [B], [B, 1] or any mix of them.
  const bool one_per_sample = output.dim() >= 1 && output.dim() <= 2 &&
                              output.numel() == output.size(0) && target.dim() >= 1 &&
                              target.dim() <= 2 && target.numel() == output.size(0);
  if (!one_per_sample) throw_shapes(task, output, target, "output [B, 1] and target [B]");
  const Tensor aligned = target.reshape(output.shape());
  if (task.type == TaskType::binary) return nn::binary_cross_entropy_with_logits(output, aligned);
  return nn::mse_loss(output, aligned);
}

}  // namespace ember::models
