#pragma once
// RMSprop (Hinton's lecture 6e; centered variant by Graves 2013); PyTorch 1.13's
// torch.optim.RMSprop (single-tensor path), same options and defaults.

#include <ember/optim/optimizer.h>

namespace ember::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  /// Smoothing constant of the squared-gradient average.
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  /// Normalise by an estimate of the gradient's variance instead of its second moment.
  bool centered = false;
  bool maximize = false;

  static constexpr const char* kOptimizer = "RMSprop";
  /// Throws Error for a negative lr, eps, momentum, weight decay or alpha.
  void validate() const;
  template <class Self, class Visit>
  static void visit_fields(Self& self, Visit&& visit) {
    visit("lr", self.lr);
    visit("alpha", self.alpha);
    visit("eps", self.eps);
    visit("weight_decay", self.weight_decay);
    visit("momentum", self.momentum);
    visit("centered", self.centered);
    visit("maximize", self.maximize);
  }
};

/// Per parameter, with g the gradient (negated when maximize):
///   g = g + weight_decay·p
///   s = α·s + (1 - α)·g²;   centered: a = α·a + (1 - α)·g and s̃ = s - a², else s̃ = s
///   momentum > 0: buf = momentum·buf + g/(sqrt(s̃) + eps), p = p - lr·buf
///   otherwise:    p = p - lr·g/(sqrt(s̃) + eps)
/// State: "square_avg" (s), "grad_avg" (a, when centered), "momentum_buffer".
class RMSprop : public OptimizerWithOptions<RMSpropOptions> {
 public:
  RMSprop(std::vector<Tensor> params, const RMSpropOptions& options = {})
      : OptimizerWithOptions(std::move(params), options) {}
  RMSprop(std::vector<ParamGroup<RMSpropOptions>> groups, const RMSpropOptions& defaults = {})
      : OptimizerWithOptions(std::move(groups), defaults) {}

  void step() override;

 protected:
  std::vector<std::string> state_buffer_names() const override {
    return {"square_avg", "grad_avg", "momentum_buffer"};
  }
};

}  // namespace ember::optim
