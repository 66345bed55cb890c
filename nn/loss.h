#pragma once
// Loss functions, as torch.nn.functional's, and the loss modules that hold their options
// (MSELoss, CrossEntropyLoss, ...), as torch.nn's.
//
// Every loss but mse_loss (a primitive of core/ops, fused into one node for speed) is
// built from differentiable ops, so its gradient (and the gradient of that) comes from
// autograd. Each compares `input` with `target` elementwise, or per class for
// cross_entropy/nll_loss, and reduces with `reduction`:
//   None: the per-element losses, Sum: their sum, Mean: their mean (a weighted mean for the
//   class-weighted losses: the sum divided by the total weight of the targets).
// Invalid arguments (mismatched shapes, class indices that are not integers in [0, C),
// probabilities outside [0, 1], ...) throw Error naming the loss and the offending value.

#include <cstdint>
#include <tuple>

#include <ember/core/ops.h>
#include <ember/nn/module.h>

namespace ember::nn {

/// None, Mean or Sum (declared with the loss primitives in core/ops.h).
using ember::Reduction;

// -- regression losses (input and target of the same shape) -----------------------------

/// (input - target)²: the primitive ember::mse_loss (core/ops/loss.cpp).
using ember::mse_loss;
/// |input - target|
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
/// 0.5 d² / beta where |d| < beta, |d| - 0.5 beta elsewhere, with d = input - target.
/// beta = 0 is l1_loss. Throws Error if beta < 0.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                      Reduction reduction = Reduction::Mean, float beta = 1.f);
/// 0.5 d² where |d| < delta, delta (|d| - 0.5 delta) elsewhere: smooth_l1_loss · beta with
/// beta = delta. Throws Error if delta <= 0.
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                  float delta = 1.f);

// -- classification losses --------------------------------------------------------------

struct CrossEntropyOptions {
  Tensor weight{};              // [C]: a weight per class (optional)
  int64_t ignore_index = -100;  // targets equal to it add nothing and are not counted
  Reduction reduction = Reduction::Mean;
  float label_smoothing = 0.f;  // in [0, 1]: mixes the target with the uniform distribution
};

/// Cross entropy between logits and a target, i.e. nll_loss(log_softmax(input, 1), ...).
/// input [N, C, d1, ...] (or [C] for one sample) holds logits; target is either
///  - class indices, held as floats, of shape [N, d1, ...] (or []), each an integer in
///    [0, C) or ignore_index: loss = -weight[y] · log_softmax(input)[y], and with label
///    smoothing ε: (1 - ε) · that + ε/C · Σ_c -weight[c] · log_softmax(input)[c];
///  - class probabilities of the input's shape, each in [0, 1]:
///    loss = -Σ_c weight[c] · p_c · log_softmax(input)[c] with p smoothed to
///    (1 - ε) p + ε/C; Mean divides by the number of samples N · d1 · ... (not by weight),
///    and ignore_index must stay negative, as in PyTorch.
/// Usage: cross_entropy(logits, labels, {.weight = w, .label_smoothing = 0.1f}).
Tensor cross_entropy(const Tensor& input, const Tensor& target,
                     const CrossEntropyOptions& options = {});

struct NLLLossOptions {
  Tensor weight{};              // [C] (optional)
  int64_t ignore_index = -100;  // targets equal to it add nothing and are not counted
  Reduction reduction = Reduction::Mean;
};

/// Negative log likelihood: loss = -weight[y] · input[y] for log-probabilities input
/// [N, C, d1, ...] (or [C]) and class indices target [N, d1, ...] (or []), held as floats.
Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossOptions& options = {});

struct BCELossOptions {
  Tensor weight{};  // broadcasts to the input's shape (optional)
  Reduction reduction = Reduction::Mean;
};

/// -weight · (y log x + (1 - y) log(1 - x)) for probabilities x = input and targets
/// y = target of the same shape, both in [0, 1]. Each log is clamped at -100, as in PyTorch,
/// so x = 0 or 1 gives a finite loss; there the clamped term is constant, so its gradient
/// is 0 (PyTorch's is (x - y) / 1e-12).
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target,
                            const BCELossOptions& options = {});

struct BCEWithLogitsLossOptions {
  Tensor weight{};      // broadcasts to the input's shape (optional)
  Tensor pos_weight{};  // weight of the positive term, e.g. [C] for [N, C] inputs (optional)
  Reduction reduction = Reduction::Mean;
};

/// binary_cross_entropy(sigmoid(x), y) without computing sigmoid(x), stable for any x:
/// -weight · (pos_weight · y log σ(x) + (1 - y) log(1 - σ(x))). target in [0, 1], of the
/// input's shape.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsLossOptions& options = {});

// -- probabilistic regression -----------------------------------------------------------

struct GaussianNLLLossOptions {
  bool full = false;  // add the constant 0.5 log(2π)
  float eps = 1e-6f;  // var is clamped below at eps (the gradient passes the clamp unchanged)
  Reduction reduction = Reduction::Mean;
};

/// Negative log likelihood of target under N(input, var):
/// 0.5 (log var + (input - target)² / var). input and target have the same shape; var has
/// it too, or lacks the last dim, or has size 1 there (one variance shared by the last dim).
/// Throws Error for a var of another shape or with a negative entry.
Tensor gaussian_nll_loss(const Tensor& input, const Tensor& target, const Tensor& var,
                         const GaussianNLLLossOptions& options = {});

// -- modules ----------------------------------------------------------------------------
// Each holds the options of its function; `loss(input, target)` calls it. They are Modules
// (for printing and state dicts: class weights are buffers, as in PyTorch) but not Layers,
// since they take two tensors.

/// The base of the two-tensor loss modules: holds the options its constructor was given,
/// and `forward(input, target)` (or `loss(input, target)`) returns
/// `function(input, target, options...)`.
template <auto function, class... Options>
class LossModule : public Module {
 public:
  explicit LossModule(Options... options) : options_(std::move(options)...) {}
  Tensor forward(const Tensor& input, const Tensor& target) const {
    return std::apply(
        [&](const Options&... options) { return function(input, target, options...); }, options_);
  }
  Tensor operator()(const Tensor& input, const Tensor& target) const {
    return forward(input, target);
  }

 protected:
  std::tuple<Options...> options_;
};

class MSELoss : public LossModule<mse_loss, Reduction> {
 public:
  explicit MSELoss(Reduction reduction = Reduction::Mean) : LossModule(reduction) {}
};

class L1Loss : public LossModule<l1_loss, Reduction> {
 public:
  explicit L1Loss(Reduction reduction = Reduction::Mean) : LossModule(reduction) {}
};

/// Throws Error if beta < 0.
class SmoothL1Loss : public LossModule<smooth_l1_loss, Reduction, float> {
 public:
  explicit SmoothL1Loss(Reduction reduction = Reduction::Mean, float beta = 1.f);
};

/// Throws Error if delta <= 0.
class HuberLoss : public LossModule<huber_loss, Reduction, float> {
 public:
  explicit HuberLoss(Reduction reduction = Reduction::Mean, float delta = 1.f);
};

/// Registers options.weight, if given, as the buffer "weight".
class CrossEntropyLoss : public LossModule<cross_entropy, CrossEntropyOptions> {
 public:
  explicit CrossEntropyLoss(CrossEntropyOptions options = {});
};

/// Registers options.weight, if given, as the buffer "weight".
class NLLLoss : public LossModule<nll_loss, NLLLossOptions> {
 public:
  explicit NLLLoss(NLLLossOptions options = {});
};

/// Registers options.weight, if given, as the buffer "weight".
class BCELoss : public LossModule<binary_cross_entropy, BCELossOptions> {
 public:
  explicit BCELoss(BCELossOptions options = {});
};

/// Registers options.weight and options.pos_weight, if given, as buffers of those names.
class BCEWithLogitsLoss
    : public LossModule<binary_cross_entropy_with_logits, BCEWithLogitsLossOptions> {
 public:
  explicit BCEWithLogitsLoss(BCEWithLogitsLossOptions options = {});
};

class GaussianNLLLoss : public Module {
 public:
  explicit GaussianNLLLoss(GaussianNLLLossOptions options = {}) : options_(options) {}
  Tensor forward(const Tensor& input, const Tensor& target, const Tensor& var) const;
  Tensor operator()(const Tensor& input, const Tensor& target, const Tensor& var) const;

 private:
  GaussianNLLLossOptions options_;
};

}  // namespace ember::nn
