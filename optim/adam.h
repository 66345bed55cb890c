#pragma once
// Adam and AdamW: adaptive moment estimation (Kingma & Ba 2015) and its decoupled weight
// decay variant (Loshchilov & Hutter 2019); PyTorch 1.13's torch.optim.Adam and AdamW
// (single-tensor path), same options and defaults.

#include <array>

#include <ember/optim/optimizer.h>

namespace ember::optim {

struct AdamOptions {
  double lr = 1e-3;
  /// Decay rates of the first and second moment estimates.
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  /// L2 penalty added to the gradient.
  double weight_decay = 0;
  /// Normalise by the largest second moment seen so far (Reddi et al. 2018).
  bool amsgrad = false;
  bool maximize = false;

  static constexpr const char* kOptimizer = "Adam";
  /// Throws Error for a negative lr, eps or weight decay, or a beta outside [0, 1).
  void validate() const;
  template <class Self, class Visit>
  static void visit_fields(Self& self, Visit&& visit) {
    visit("lr", self.lr);
    visit("beta1", self.betas[0]);
    visit("beta2", self.betas[1]);
    visit("eps", self.eps);
    visit("weight_decay", self.weight_decay);
    visit("amsgrad", self.amsgrad);
    visit("maximize", self.maximize);
  }
};

/// AdamW's options: Adam's, with a default weight decay of 1e-2 that is decoupled. Spelled
/// out rather than derived from AdamOptions so that `{.lr = ..., .weight_decay = ...}` works:
/// designated initialisers cannot name a base class's members.
struct AdamWOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  /// Decoupled: p shrinks by lr·weight_decay·p each step, outside the adaptive scaling.
  double weight_decay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;

  static constexpr const char* kOptimizer = "AdamW";
  void validate() const;
  template <class Self, class Visit>
  static void visit_fields(Self& self, Visit&& visit) {
    visit("lr", self.lr);
    visit("beta1", self.betas[0]);
    visit("beta2", self.betas[1]);
    visit("eps", self.eps);
    visit("weight_decay", self.weight_decay);
    visit("amsgrad", self.amsgrad);
    visit("maximize", self.maximize);
  }
};

/// Per parameter, with g the gradient (negated when maximize) and t the step count:
///   g = g + weight_decay·p
///   m = β1·m + (1 - β1)·g;   v = β2·v + (1 - β2)·g²;   (amsgrad: v_max = max(v_max, v))
///   p = p - lr/(1 - β1^t) · m / (sqrt(v)/sqrt(1 - β2^t) + eps)
/// State: "exp_avg" (m), "exp_avg_sq" (v), "max_exp_avg_sq" (v_max, with amsgrad).
///
///   optim::Adam adam(model.parameters(), {.lr = 1e-3});
class Adam : public OptimizerWithOptions<AdamOptions> {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options = {})
      : OptimizerWithOptions(std::move(params), options) {}
  Adam(std::vector<ParamGroup<AdamOptions>> groups, const AdamOptions& defaults = {})
      : OptimizerWithOptions(std::move(groups), defaults) {}

  void step() override;

 protected:
  std::vector<std::string> state_buffer_names() const override {
    return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  }
};

/// Adam with decoupled weight decay: p = p·(1 - lr·weight_decay) first, then Adam's update
/// without the weight-decay term in g. Same state as Adam.
class AdamW : public OptimizerWithOptions<AdamWOptions> {
 public:
  AdamW(std::vector<Tensor> params, const AdamWOptions& options = {})
      : OptimizerWithOptions(std::move(params), options) {}
  AdamW(std::vector<ParamGroup<AdamWOptions>> groups, const AdamWOptions& defaults = {})
      : OptimizerWithOptions(std::move(groups), defaults) {}

  void step() override;

 protected:
  std::vector<std::string> state_buffer_names() const override {
    return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  }
};

}  // namespace ember::optim
