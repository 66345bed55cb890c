#include <ember/core/autograd.h>
#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/nn/loss.h>
#include <ember/nn/repr.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

namespace ember::nn {

namespace {

using detail::python_float;

constexpr float kInfinity = std::numeric_limits<float>::infinity();

std::string position(int64_t flat, const Shape& shape) {
  Shape index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return to_string(index);
}

void check_defined(const Tensor& t, const char* loss, const char* what) {
  if (!t.defined()) throw Error(std::string(loss) + ": " + what + " is undefined");
}

void check_same_shape(const Tensor& input, const Tensor& target, const char* loss) {
  check_defined(input, loss, "input");
  check_defined(target, loss, "target");
  if (input.shape() != target.shape()) {
    throw Error(std::string(loss) + ": target shape " + to_string(target.shape()) +
                " differs from input shape " + to_string(input.shape()));
  }
}

/// Throws unless every value of `t` lies in [0, 1], naming the first that does not.
void check_unit_interval(const Tensor& t, const char* loss, const char* what) {
  const float* values = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (!(values[i] >= 0.f && values[i] <= 1.f)) {
      throw Error(std::string(loss) + ": every " + what + " must be in [0, 1], got " +
                  python_float(values[i]) + " at " + position(i, t.shape()));
    }
  }
}

/// Throws unless `weight` (if given) broadcasts to `shape` without growing it.
void check_broadcasts_to(const Tensor& weight, const Shape& shape, const char* loss,
                         const char* what) {
  if (!weight.defined()) return;
  const Shape combined = broadcast_shape(weight.shape(), shape, loss);
  if (combined != shape) {
    throw Error(std::string(loss) + ": " + what + " of shape " + to_string(weight.shape()) +
                " does not broadcast to the input's shape " + to_string(shape));
  }
}

Tensor reduce(const Tensor& losses, Reduction reduction) {
  switch (reduction) {
    case Reduction::None:
      return losses;
    case Reduction::Sum:
      return sum(losses);
    case Reduction::Mean:
      break;
  }
  return mean(losses);
}

// -- the class-index losses -----------------------------------------------------------------

/// How input [N, C, d1, ...] (or [C]) splits around its class dim.
struct ClassLayout {
  int64_t class_dim;   // 1, or 0 for an unbatched [C] input
  int64_t classes;     // C
  int64_t inner;       // d1 · d2 · ...
  Shape target_shape;  // the input's shape without the class dim
  Shape weight_shape;  // [C, 1, ...]: a per-class weight broadcast against the input
};

ClassLayout class_layout(const Tensor& input, const char* loss) {
  check_defined(input, loss, "input");
  if (input.dim() == 0) {
    throw Error(std::string(loss) +
                ": input must have a class dim ([C] or [N, C, ...]), got "
                "shape []");
  }
  ClassLayout layout;
  layout.class_dim = input.dim() == 1 ? 0 : 1;
  layout.classes = input.size(layout.class_dim);
  layout.inner = 1;
  for (int64_t d = layout.class_dim + 1; d < input.dim(); ++d) layout.inner *= input.size(d);
  layout.target_shape = input.shape();
  layout.target_shape.erase(layout.target_shape.begin() + layout.class_dim);
  layout.weight_shape = Shape(size_t(input.dim() - layout.class_dim), 1);
  layout.weight_shape[0] = layout.classes;
  return layout;
}

void check_class_weight(const Tensor& weight, const ClassLayout& layout, const char* loss) {
  if (weight.defined() && weight.shape() != Shape{layout.classes}) {
    throw Error(std::string(loss) + ": weight must have shape [" + std::to_string(layout.classes) +
                "] (one per class), got " + to_string(weight.shape()));
  }
}

/// -weight[y] · log_probs[y] per target position (0 where y == ignore_index), and the
/// weighted mean's denominator.
struct PickedLosses {
  Tensor losses;        // target's shape
  Tensor total_weight;  // Σ weight[y] over the targets not ignored (their count unweighted)
  Tensor keep;          // target's shape: 1 where the target is not ignored, 0 where it is
};

PickedLosses picked_losses(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                           int64_t ignore_index, const ClassLayout& layout, const char* loss) {
  check_defined(target, loss, "target");
  if (target.shape() != layout.target_shape) {
    throw Error(std::string(loss) + ": expected class indices of shape " +
                to_string(layout.target_shape) + " for input of shape " +
                to_string(log_probs.shape()) + ", got target of shape " +
                to_string(target.shape()));
  }
  // Validate each class index and mark it in a one-hot mask of the input's shape: target
  // (n, d) selects input (n, y, d), at (n · C + y) · inner + d. (A mask rather than
  // index_select over the flattened input: indices held as floats are exact only below
  // 2^24, and a large segmentation batch has more elements than that.)
  const float* classes = target.data();
  std::vector<float> one_hot(size_t(log_probs.numel()), 0.f);
  std::vector<float> keep(size_t(target.numel()), 0.f);
  std::vector<float> class_index(size_t(target.numel()), 0.f);
  for (int64_t i = 0; i < target.numel(); ++i) {
    const float y = classes[i];
    if (y == float(ignore_index)) continue;  // an all-zero mask row: contributes nothing
    if (!(y == std::floor(y))) {
      throw Error(std::string(loss) + ": target " + python_float(y) + " at " +
                  position(i, target.shape()) + " is not a class index (an integer)");
    }
    if (y < 0.f || y >= float(layout.classes)) {
      throw Error(std::string(loss) + ": target " + std::to_string(int64_t(y)) + " at " +
                  position(i, target.shape()) + " is out of range for " +
                  std::to_string(layout.classes) + " classes (expected 0 to " +
                  std::to_string(layout.classes - 1) + ")");
    }
    const int64_t n = i / layout.inner, d = i % layout.inner;
    one_hot[size_t((n * layout.classes + int64_t(y)) * layout.inner + d)] = 1.f;
    keep[size_t(i)] = 1.f;
    class_index[size_t(i)] = y;
  }
  const Tensor keep_mask = tensor(keep, target.shape());
  // A gather: picked[n, d] = log_probs[n, y, d]. `where` rather than a product with the
  // mask, so an infinite log-probability of another class cannot turn into NaN.
  const Tensor picked =
      sum(where(tensor(one_hot, log_probs.shape()), log_probs, zeros({})), {layout.class_dim});
  const Tensor target_weight =
      weight.defined() ? where(keep_mask,
                               index_select(weight, 0, tensor(class_index, {target.numel()}))
                                   .reshape(target.shape()),
                               zeros({}))
                       : keep_mask;
  return {-picked * target_weight, sum(target_weight), keep_mask};
}

Tensor reduce_weighted(const Tensor& losses, const Tensor& total_weight, Reduction reduction) {
  // PyTorch's weighted mean: divide by the weight of the targets, not by their number.
  if (reduction == Reduction::Mean) return sum(losses) / total_weight;
  return reduce(losses, reduction);
}

/// cross_entropy with class indices: nll_loss of log_softmax, mixed with the smoothing term.
Tensor cross_entropy_with_indices(const Tensor& log_probs, const Tensor& target,
                                  const CrossEntropyOptions& options, const ClassLayout& layout) {
  const char* loss = "cross_entropy";
  const PickedLosses nll =
      picked_losses(log_probs, target, options.weight, options.ignore_index, layout, loss);
  if (options.label_smoothing == 0.f) {
    return reduce_weighted(nll.losses, nll.total_weight, options.reduction);
  }
  // Smoothing spreads ε of the target's mass evenly over the C classes:
  // loss = (1 - ε) · nll + ε/C · Σ_c -weight[c] · log_probs[c], with the same denominator.
  const Tensor weighted = options.weight.defined()
                              ? log_probs * options.weight.reshape(layout.weight_shape)
                              : log_probs;
  const Tensor smooth = where(nll.keep, -sum(weighted, {layout.class_dim}), zeros({}));
  const float epsilon = options.label_smoothing;
  const Tensor losses = (1.f - epsilon) * nll.losses + (epsilon / float(layout.classes)) * smooth;
  return reduce_weighted(losses, nll.total_weight, options.reduction);
}

/// cross_entropy with class probabilities of the input's shape.
Tensor cross_entropy_with_probabilities(const Tensor& log_probs, const Tensor& target,
                                        const CrossEntropyOptions& options,
                                        const ClassLayout& layout) {
  const char* loss = "cross_entropy";
  if (options.ignore_index >= 0) {
    throw Error("cross_entropy: ignore_index (" + std::to_string(options.ignore_index) +
                ") is not supported for class-probability targets");
  }
  check_unit_interval(target, loss, "target probability");
  const float epsilon = options.label_smoothing;
  Tensor p = target;
  if (epsilon > 0.f) p = target * (1.f - epsilon) + epsilon / float(layout.classes);
  Tensor terms = log_probs * p;
  if (options.weight.defined()) terms = terms * options.weight.reshape(layout.weight_shape);
  const Tensor losses = -sum(terms, {layout.class_dim});
  return reduce(losses, options.reduction);  // Mean: over the N · d1 · ... samples
}

}  // namespace

// -- regression losses ----------------------------------------------------------------------

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape(input, target, "l1_loss");
  return reduce(abs(input - target), reduction);
}

// Quadratic near 0, linear beyond beta; the two pieces meet with equal value and slope.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, float beta) {
  if (!(beta >= 0.f)) {
    throw Error("smooth_l1_loss: beta must be >= 0, got " + python_float(beta));
  }
  check_same_shape(input, target, "smooth_l1_loss");
  // beta = 0 leaves only the linear piece (the quadratic one would divide by zero).
  if (beta == 0.f) return l1_loss(input, target, reduction);
  const Tensor difference = input - target;
  const Tensor magnitude = abs(difference);
  const Tensor losses =
      where(magnitude < beta, (0.5f / beta) * difference * difference, magnitude - 0.5f * beta);
  return reduce(losses, reduction);
}

Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, float delta) {
  if (!(delta > 0.f)) {
    throw Error("huber_loss: delta must be > 0, got " + python_float(delta));
  }
  check_same_shape(input, target, "huber_loss");
  const Tensor difference = input - target;
  const Tensor magnitude = abs(difference);
  const Tensor losses =
      where(magnitude < delta, 0.5f * difference * difference, delta * (magnitude - 0.5f * delta));
  return reduce(losses, reduction);
}

// -- classification losses ------------------------------------------------------------------

Tensor cross_entropy(const Tensor& input, const Tensor& target,
                     const CrossEntropyOptions& options) {
  const char* loss = "cross_entropy";
  const ClassLayout layout = class_layout(input, loss);
  check_defined(target, loss, "target");
  check_class_weight(options.weight, layout, loss);
  if (!(options.label_smoothing >= 0.f && options.label_smoothing <= 1.f)) {
    throw Error("cross_entropy: label_smoothing must be in [0, 1], got " +
                python_float(options.label_smoothing));
  }
  const Tensor log_probs = log_softmax(input, layout.class_dim);
  // A target of the input's shape holds probabilities; one without the class dim, indices.
  if (target.shape() == input.shape()) {
    return cross_entropy_with_probabilities(log_probs, target, options, layout);
  }
  return cross_entropy_with_indices(log_probs, target, options, layout);
}

Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossOptions& options) {
  const char* loss = "nll_loss";
  const ClassLayout layout = class_layout(input, loss);
  check_class_weight(options.weight, layout, loss);
  const PickedLosses nll =
      picked_losses(input, target, options.weight, options.ignore_index, layout, loss);
  return reduce_weighted(nll.losses, nll.total_weight, options.reduction);
}

namespace {
// log(x) clamped below at -100, as PyTorch's binary_cross_entropy. Where x = 0 the result
// is the constant -100; log only ever sees x > 0 (the "double where"), so its backward
// never divides by zero, and a denormal x whose log is below -100 is clamped too.
Tensor clamped_log(const Tensor& x) {
  const Tensor positive = x > 0.f;
  const Tensor log_x = log(where(positive, x, ones({})));
  return where(positive, clamp(log_x, -100.f, kInfinity), full({}, -100.f));
}
}  // namespace

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target,
                            const BCELossOptions& options) {
  const char* loss = "binary_cross_entropy";
  check_same_shape(input, target, loss);
  check_unit_interval(input, loss, "input probability");
  check_unit_interval(target, loss, "target");
  check_broadcasts_to(options.weight, input.shape(), loss, "weight");
  Tensor losses = -(target * clamped_log(input) + (1.f - target) * clamped_log(1.f - input));
  if (options.weight.defined()) losses = losses * options.weight;
  return reduce(losses, options.reduction);
}

// With log σ(x) = -softplus(-x) and log(1 - σ(x)) = -x - softplus(-x):
//   loss = (1 - y) · x + (1 + (pos_weight - 1) · y) · softplus(-x)
// and softplus(-x) = max(-x, 0) + log(1 + e^-|x|) never overflows. Without pos_weight this
// is max(x, 0) - x·y + log(1 + e^-|x|).
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsLossOptions& options) {
  const char* loss = "binary_cross_entropy_with_logits";
  check_same_shape(input, target, loss);
  check_unit_interval(target, loss, "target");
  check_broadcasts_to(options.weight, input.shape(), loss, "weight");
  check_broadcasts_to(options.pos_weight, input.shape(), loss, "pos_weight");
  const Tensor log_weight =
      options.pos_weight.defined() ? 1.f + (options.pos_weight - 1.f) * target : ones({});
  Tensor losses = (1.f - target) * input + log_weight * softplus(-input);
  if (options.weight.defined()) losses = losses * options.weight;
  return reduce(losses, options.reduction);
}

// -- probabilistic regression ---------------------------------------------------------------

Tensor gaussian_nll_loss(const Tensor& input, const Tensor& target, const Tensor& var,
                         const GaussianNLLLossOptions& options) {
  const char* loss = "gaussian_nll_loss";
  check_same_shape(input, target, loss);
  check_defined(var, loss, "var");
  Tensor variance = var;
  if (var.shape() != input.shape()) {
    const Shape& in = input.shape();
    const Shape& v = var.shape();
    const Shape leading(in.begin(), in.end() - (in.empty() ? 0 : 1));
    if (!in.empty() && v == leading) {
      variance = unsqueeze(var, -1);  // one variance per row, shared by the last dim
    } else if (!(!in.empty() && !v.empty() && v.back() == 1 &&
                 Shape(v.begin(), v.end() - 1) == leading)) {
      throw Error("gaussian_nll_loss: var of shape " + to_string(v) +
                  " does not fit input of shape " + to_string(in) +
                  " (expected the input's shape, without its last dim, or with size 1 there)");
    }
  }
  const float* values = var.data();
  for (int64_t i = 0; i < var.numel(); ++i) {
    if (values[i] < 0.f) {
      throw Error("gaussian_nll_loss: var must be non-negative, got " + python_float(values[i]) +
                  " at " + position(i, var.shape()));
    }
  }
  if (!(options.eps >= 0.f)) {
    throw Error("gaussian_nll_loss: eps must be >= 0, got " + python_float(options.eps));
  }
  // As PyTorch: a clone of var clamped in place under no_grad, so the clamp changes the value
  // but the gradient reaches var unchanged, through the clone (even at var = inf, where a
  // formula such as var - var.detach() + clamp(...) would give inf - inf = NaN).
  Tensor clamped = clone(variance);
  {
    const NoGradGuard no_grad;
    clamped.copy_(clamp(clamped, options.eps, kInfinity));
  }
  const Tensor difference = input - target;
  Tensor losses = 0.5f * (log(clamped) + difference * difference / clamped);
  if (options.full) losses = losses + 0.5f * std::log(2.f * std::numbers::pi_v<float>);
  return reduce(losses, options.reduction);
}

// -- modules --------------------------------------------------------------------------------

SmoothL1Loss::SmoothL1Loss(Reduction reduction, float beta) : LossModule(reduction, beta) {
  if (!(beta >= 0.f)) throw Error("SmoothL1Loss: beta must be >= 0, got " + python_float(beta));
}

HuberLoss::HuberLoss(Reduction reduction, float delta) : LossModule(reduction, delta) {
  if (!(delta > 0.f)) throw Error("HuberLoss: delta must be > 0, got " + python_float(delta));
}

namespace {
// Class weights become buffers, as in PyTorch, so they are saved with the module; the
// module's options then hold the registered handle.
void register_weight(Module& module, const char* name, Tensor& weight) {
  if (weight.defined()) weight = module.register_buffer(name, weight);
}
}  // namespace

CrossEntropyLoss::CrossEntropyLoss(CrossEntropyOptions options) : LossModule(std::move(options)) {
  register_weight(*this, "weight", std::get<0>(options_).weight);
}

NLLLoss::NLLLoss(NLLLossOptions options) : LossModule(std::move(options)) {
  register_weight(*this, "weight", std::get<0>(options_).weight);
}

BCELoss::BCELoss(BCELossOptions options) : LossModule(std::move(options)) {
  register_weight(*this, "weight", std::get<0>(options_).weight);
}

BCEWithLogitsLoss::BCEWithLogitsLoss(BCEWithLogitsLossOptions options)
    : LossModule(std::move(options)) {
  register_weight(*this, "weight", std::get<0>(options_).weight);
  register_weight(*this, "pos_weight", std::get<0>(options_).pos_weight);
}

Tensor GaussianNLLLoss::forward(const Tensor& input, const Tensor& target,
                                const Tensor& var) const {
  return gaussian_nll_loss(input, target, var, options_);
}
Tensor GaussianNLLLoss::operator()(const Tensor& input, const Tensor& target,
                                   const Tensor& var) const {
  return forward(input, target, var);
}

}  // namespace ember::nn
