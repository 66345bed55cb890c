#pragma once
// SGD: stochastic gradient descent with optional momentum, Nesterov momentum and weight
// decay; PyTorch 1.13's torch.optim.SGD (single-tensor path), same options and defaults.

#include <limits>

#include <ember/optim/optimizer.h>

namespace ember::optim {

struct SGDOptions {
  /// Required: SGD has no default learning rate, as in PyTorch.
  double lr = std::numeric_limits<double>::quiet_NaN();
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
  /// Ascend the gradient instead of descending it.
  bool maximize = false;

  static constexpr const char* kOptimizer = "SGD";
  /// Throws Error for a missing or negative lr, a negative momentum or weight decay, and
  /// nesterov without momentum or with dampening.
  void validate() const;
  template <class Self, class Visit>
  static void visit_fields(Self& self, Visit&& visit) {
    visit("lr", self.lr);
    visit("momentum", self.momentum);
    visit("dampening", self.dampening);
    visit("weight_decay", self.weight_decay);
    visit("nesterov", self.nesterov);
    visit("maximize", self.maximize);
  }
};

/// Per parameter, with d the gradient (negated when maximize):
///   d = d + weight_decay·p
///   buf = momentum·buf + (1 - dampening)·d    (buf = d at the first step)
///   d = nesterov ? d + momentum·buf : buf     (when momentum != 0)
///   p = p - lr·d
/// State: "momentum_buffer" (when momentum != 0).
///
///   optim::SGD sgd(model.parameters(), {.lr = 0.1, .momentum = 0.9});
class SGD : public OptimizerWithOptions<SGDOptions> {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options)
      : OptimizerWithOptions(std::move(params), options) {}
  SGD(std::vector<ParamGroup<SGDOptions>> groups, const SGDOptions& defaults)
      : OptimizerWithOptions(std::move(groups), defaults) {}

  void step() override;

 protected:
  std::vector<std::string> state_buffer_names() const override { return {"momentum_buffer"}; }
};

}  // namespace ember::optim
