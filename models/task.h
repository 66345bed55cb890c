#pragma once
// Tasks: what one output of a model predicts, and the loss that follows from it.

#include <cstdint>
#include <string>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::models {

/// The kind of target a task predicts; the loss and the metrics follow from it.
enum class TaskType {
  regression,  // real values; mean squared error
  binary,      // 0 or 1; one logit, binary cross entropy with logits
  multiclass,  // a class index in [0, classes); one logit per class, cross entropy
  gaussian,    // real values with a predicted variance; two outputs, Gaussian NLL
};

/// "regression", "binary" or "multiclass".
std::string to_string(TaskType type);

/// One output of a model: a name (for logs and metrics), its kind, and for multi-class
/// tasks the number of classes.
struct Task {
  std::string name{};
  TaskType type = TaskType::regression;
  int64_t classes = 0;  // multiclass only: C >= 2

  /// The width of the model output this task reads: C for multiclass, 2 for gaussian, else 1.
  int64_t output_size() const;
};

/// A regression task named `name`.
Task regression(std::string name);
/// A binary classification task named `name`.
Task binary(std::string name);
/// A `classes`-way classification task named `name`.
Task multiclass(std::string name, int64_t classes);
/// A regression task named `name` whose model predicts a mean and a variance (deep
/// ensembles, Lakshminarayanan et al. 2017): see gaussian_mean_variance.
Task gaussian(std::string name);

/// The mean and variance a gaussian task's output [B, 2] encodes: column 0 is the mean μ,
/// column 1 a raw value v, and the variance is softplus(v) + 1e-6 (the paper's softplus
/// "plus a minimum variance", which keeps the NLL finite). Each result is [B]. Throws Error
/// unless `output` is [B, 2].
struct MeanVariance {
  Tensor mean;
  Tensor variance;
};
MeanVariance gaussian_mean_variance(const Tensor& output);

/// Throws Error "<model>: no tasks given" for an empty list, or naming a name two tasks share.
void check_tasks(const std::string& model, const std::vector<Task>& tasks);

/// The task's training loss, averaged over the batch:
///   regression  output [B, 1] or [B], target [B] or [B, 1]  mse_loss
///   binary      output [B, 1] or [B] logits, target [B] in {0, 1}   BCE with logits
///   multiclass  output [B, C] logits, target [B] class indices      cross entropy
///   gaussian    output [B, 2] (μ, v), target [B] or [B, 1]          Gaussian NLL
///               0.5 (log σ² + (y − μ)² / σ²) with σ² from gaussian_mean_variance
/// Throws Error naming the task when the shapes do not fit its kind.
Tensor task_loss(const Task& task, const Tensor& output, const Tensor& target);

}  // namespace ember::models
