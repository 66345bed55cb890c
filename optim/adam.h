#pragma once
// Adam and AdamW: adaptive moment estimation (Kingma & Ba 2015) and its decoupled weight
// decay variant (Loshchilov & Hutter 2019); PyTorch 1.13's torch.optim.Adam and AdamW
// (single-tensor path), same options and defaults. The two differ only in how weight decay
// enters, so they are one class template over that choice, said once.

#include <array>

#include <ember/optim/optimizer.h>

namespace ember::optim {

/// Adam's options (`decoupled` false) and AdamW's (true): the same fields; AdamW's weight
/// decay defaults to 1e-2. (One struct, not a base and a derived one, so that
/// `{.lr = ..., .weight_decay = ...}` works for both: designated initialisers cannot name a
/// base class's members.)
template <bool decoupled>
struct AdamVariantOptions {
  double lr = 1e-3;
  /// Decay rates of the first and second moment estimates.
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  /// Adam: an L2 penalty added to the gradient. AdamW: decoupled, p shrinks by
  /// lr·weight_decay·p each step, outside the adaptive scaling.
  double weight_decay = decoupled ? 1e-2 : 0;
  /// Normalise by the largest second moment seen so far (Reddi et al. 2018).
  bool amsgrad = false;
  bool maximize = false;

  static constexpr const char* kOptimizer = decoupled ? "AdamW" : "Adam";
  static constexpr bool kDecoupledWeightDecay = decoupled;
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

using AdamOptions = AdamVariantOptions<false>;
using AdamWOptions = AdamVariantOptions<true>;

/// Per parameter, with g the gradient (negated when maximize) and t the step count:
///   Adam:  g = g + weight_decay·p
///   AdamW: p = p·(1 - lr·weight_decay)
///   m = β1·m + (1 - β1)·g;   v = β2·v + (1 - β2)·g²;   (amsgrad: v_max = max(v_max, v))
///   p = p - lr/(1 - β1^t) · m / (sqrt(v)/sqrt(1 - β2^t) + eps)
/// State: "exp_avg" (m), "exp_avg_sq" (v), "max_exp_avg_sq" (v_max, with amsgrad).
///
///   optim::Adam adam(model.parameters(), {.lr = 1e-3});
///   optim::AdamW adamw(model.parameters(), {.lr = 1e-3, .weight_decay = 1e-2});
template <bool decoupled>
class AdamVariant : public OptimizerWithOptions<AdamVariantOptions<decoupled>> {
 public:
  using Options = AdamVariantOptions<decoupled>;
  AdamVariant(std::vector<Tensor> params, const Options& options = {})
      : OptimizerWithOptions<Options>(std::move(params), options) {}
  AdamVariant(std::vector<ParamGroup<Options>> groups, const Options& defaults = {})
      : OptimizerWithOptions<Options>(std::move(groups), defaults) {}

  void step() override;

 protected:
  std::vector<std::string> state_buffer_names() const override {
    return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  }
};

using Adam = AdamVariant<false>;
using AdamW = AdamVariant<true>;

// Both are compiled once, in adam.cpp.
extern template struct AdamVariantOptions<false>;
extern template struct AdamVariantOptions<true>;
extern template class AdamVariant<false>;
extern template class AdamVariant<true>;

}  // namespace ember::optim
