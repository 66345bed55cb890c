#pragma once
// Multi-task balancing: how the losses of T tasks become one update of a shared network.
//
// Two families, one interface (Balancer), the way torchjd separates a Jacobian from its
// aggregator:
//   - loss weightings (equal, uncertainty, GradNorm, DWA, FAMO) turn the task losses L_i
//     into one scalar, usually Σ w_i L_i, and backpropagate it once;
//   - gradient aggregators (PCGrad, MGDA, CAGrad, Nash-MTL, UPGrad) look at the Jacobian of
//     the shared parameters, J [T, P] with row i = ∂L_i/∂θ_shared, and combine its rows into
//     one update d [P]. An Aggregator is a pure function of J, so it is tested on hand-worked
//     matrices; JacobianBalancer computes J with the functional grad() and writes d into the
//     shared parameters' .grad() (task-specific parameters get the gradient of Σ L_i).
//
// A Balancer is a Module: learnable weights (uncertainty's log-variances, GradNorm's
// weights) are its parameters, to be optimised with the model's (add them to the
// optimizer), and its state travels in checkpoints with state_dict().

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ember/core/tensor.h>
#include <ember/models/task.h>
#include <ember/nn/module.h>

namespace ember::models::mtl {

/// A balancing method. The trainer calls, per step, backward() with the batch's task
/// losses (after zero_grad, before the optimizer step); after the step, after_step() when
/// needs_losses_after_step() (the losses recomputed on the same batch, for FAMO); and per
/// epoch on_epoch_end() with the epoch's mean task losses (for DWA).
class Balancer : public nn::Module {
 public:
  /// The method's name as `ember train --weighting` spells it ("equal", "pcgrad", ...).
  virtual std::string name() const = 0;
  /// Fills .grad() of every parameter the losses depend on. `losses` holds T scalars.
  virtual void backward(const std::vector<Tensor>& losses) = 0;
  virtual bool needs_losses_after_step() const { return false; }
  virtual void after_step(const std::vector<double>& /*losses_after*/) {}
  virtual void on_epoch_end(const std::vector<double>& /*mean_task_losses*/) {}
  /// Whether the update is Σ_t w_t ∇L_t (plus terms that do not depend on the batch) with
  /// weights that do not depend on the batch: then gradients computed on shards of a batch
  /// and summed (data-parallel training) give the whole batch's. False for methods non-linear
  /// in the per-batch gradients or losses (GradNorm, FAMO, the Jacobian aggregators).
  virtual bool linear_in_task_gradients() const { return false; }
  /// The weight each task had in the last backward() (for logs): w_i of Σ w_i L_i for loss
  /// weightings; for aggregators, the coefficients of d = Σ w_i J_i where the method has
  /// them, else empty.
  const std::vector<double>& last_weights() const { return last_weights_; }

 protected:
  std::vector<double> last_weights_;
};

/// Combines the rows of a Jacobian into one update: J [T, P] -> d [P]. Not const: some
/// methods draw random numbers (PCGrad) or warm-start from the last call (Nash-MTL).
class Aggregator {
 public:
  virtual ~Aggregator() = default;
  virtual std::string name() const = 0;
  /// Throws Error when `jacobian` is not a defined [T, P] float tensor with T >= 1.
  virtual Tensor operator()(const Tensor& jacobian) = 0;
  /// The coefficients w of the last result d = Σ w_i J_i, where the method has them.
  const std::vector<double>& last_weights() const { return last_weights_; }

 protected:
  std::vector<double> last_weights_;
};

/// Σ L_i, one backward: the baseline every method is measured against.
class EqualWeighting : public Balancer {
 public:
  std::string name() const override { return "equal"; }
  void backward(const std::vector<Tensor>& losses) override;
  bool linear_in_task_gradients() const override { return true; }
};

/// Applies an Aggregator to the Jacobian of `shared` (see the file comment). Costs T
/// backward passes through the shared part plus one through everything, against one pass
/// for EqualWeighting.
class JacobianBalancer : public Balancer {
 public:
  /// `shared`: the parameters every task depends on (the trunk). Throws Error when it is
  /// empty or `aggregator` is null.
  JacobianBalancer(std::unique_ptr<Aggregator> aggregator, std::vector<Tensor> shared);
  std::string name() const override { return aggregator_->name(); }
  void backward(const std::vector<Tensor>& losses) override;
  Aggregator& aggregator() { return *aggregator_; }

 private:
  std::unique_ptr<Aggregator> aggregator_;
  std::vector<Tensor> shared_;
};

/// The methods by name, for `ember train --weighting`.
const std::vector<std::string>& balancer_names();

/// Makes the method called `name` for a network whose parameters every task shares are
/// `shared`, with one output per task of `tasks` (uncertainty weighting takes each task's
/// form from its type). GradNorm's "last shared layer" is the last matrix (dim >= 2) in
/// `shared`, the weight of the trunk's last Linear. Throws Error for no tasks, and naming
/// the known methods for an unknown name.
std::unique_ptr<Balancer> make_balancer(const std::string& name, std::vector<Tensor> shared,
                                        const std::vector<Task>& tasks);

}  // namespace ember::models::mtl
