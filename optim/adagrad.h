#pragma once
// Adagrad (Duchi et al. 2011): per-coordinate steps shrinking with the sum of squared
// gradients; PyTorch 1.13's torch.optim.Adagrad (single-tensor path), same options and
// defaults.

#include <ember/optim/optimizer.h>

namespace ember::optim {

struct AdagradOptions {
  double lr = 1e-2;
  /// The step's lr is lr / (1 + (t - 1)·lr_decay) at step t.
  double lr_decay = 0;
  double weight_decay = 0;
  /// Starting value of the sum of squared gradients.
  double initial_accumulator_value = 0;
  double eps = 1e-10;
  bool maximize = false;

  static constexpr const char* kOptimizer = "Adagrad";
  /// Throws Error for a negative lr, lr_decay, weight decay, initial accumulator or eps.
  void validate() const;
  template <class Self, class Visit>
  static void visit_fields(Self& self, Visit&& visit) {
    visit("lr", self.lr);
    visit("lr_decay", self.lr_decay);
    visit("weight_decay", self.weight_decay);
    visit("initial_accumulator_value", self.initial_accumulator_value);
    visit("eps", self.eps);
    visit("maximize", self.maximize);
  }
};

/// Per parameter, with g the gradient (negated when maximize) and t the step count:
///   g = g + weight_decay·p
///   sum = sum + g²        (sum starts at initial_accumulator_value)
///   p = p - lr/(1 + (t - 1)·lr_decay) · g/(sqrt(sum) + eps)
/// State: "sum".
class Adagrad : public OptimizerWithOptions<AdagradOptions> {
 public:
  Adagrad(std::vector<Tensor> params, const AdagradOptions& options = {})
      : OptimizerWithOptions(std::move(params), options) {}
  Adagrad(std::vector<ParamGroup<AdagradOptions>> groups, const AdagradOptions& defaults = {})
      : OptimizerWithOptions(std::move(groups), defaults) {}

  void step() override;

 protected:
  std::vector<std::string> state_buffer_names() const override { return {"sum"}; }
};

}  // namespace ember::optim
