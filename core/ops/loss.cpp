// Loss primitives: the losses fused into one node for speed. The other losses are
// composites, built in nn/loss.cpp from the ops of this folder.

#include <ember/core/ops/common.h>

namespace ember {

namespace {
void check_loss_arguments(const Tensor& input, const Tensor& target, const char* loss) {
  if (!input.defined()) throw Error(std::string(loss) + ": input is undefined");
  if (!target.defined()) throw Error(std::string(loss) + ": target is undefined");
  if (input.shape() != target.shape()) {
    throw Error(std::string(loss) + ": target shape " + to_string(target.shape()) +
                " differs from input shape " + to_string(input.shape()));
  }
}

// norm·(input - target)·g in one pass: mse_loss's backward, itself recorded (as PyTorch's
// mse_loss_backward) so that create_graph works. g is 0-d after a reduction (it broadcasts
// over the elements) or input-shaped for Reduction::None.
//   d/dg = Σ norm·(input - target)·gg (to g's shape),  d/dinput = norm·g·gg = -d/dtarget
// input, target: [*]; g: [] or [*]; result: [*]
Tensor mse_loss_backward(const Tensor& g, const Tensor& input, const Tensor& target, float norm) {
  Tensor out = empty(input.shape());
  const float *x = input.data(), *t = target.data(), *gp = g.data();
  const bool broadcast = g.numel() == 1;
  float* grad = out.data();
  for (int64_t i = 0, n = input.numel(); i < n; ++i) {
    grad[i] = norm * (x[i] - t[i]) * gp[broadcast ? 0 : i];  // PyTorch's order of operations
  }
  return record(
      "MseLossBackwardBackward0", std::move(out), {g, input, target}, {g, input, target},
      [norm](const Tensor& gg, const BackwardContext& ctx) {
        const Tensor &g = ctx.saved[0], &input = ctx.saved[1], &target = ctx.saved[2];
        const Tensor by_grad = ctx.needs_grad(1) || ctx.needs_grad(2) ? gg * g * norm : Tensor();
        return Grads{ctx.needs_grad(0) ? sum_to((input - target) * gg * norm, g.shape()) : Tensor(),
                     ctx.needs_grad(1) ? by_grad : Tensor(),
                     ctx.needs_grad(2) ? -by_grad : Tensor()};
      });
}
}  // namespace

// (input - target)², reduced. One node, as in PyTorch, rather than sub, mul and mean nodes:
// the loss of every regression step, where op count is most of the cost of a small model.
//   d/dinput = 2·(input - target)·g (·1/n for the mean),  d/dtarget = -d/dinput
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_loss_arguments(input, target, "mse_loss");
  const float *x = input.data(), *t = target.data();
  const int64_t n = input.numel();
  Tensor out;
  if (reduction == Reduction::None) {
    out = empty(input.shape());
    float* losses = out.data();
    for (int64_t i = 0; i < n; ++i) losses[i] = (x[i] - t[i]) * (x[i] - t[i]);
  } else {
    // Each square is rounded to float, then summed in double and rounded once, as `sum`.
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total += (x[i] - t[i]) * (x[i] - t[i]);
    // The mean of nothing is 0 · inf = NaN, as in PyTorch.
    out = scalar_tensor(static_cast<float>(
        reduction == Reduction::Mean ? total * (1.0 / static_cast<double>(n)) : total));
  }
  const float norm = reduction == Reduction::Mean ? 2.f / static_cast<float>(n) : 2.f;
  return record(
      "MseLossBackward0", std::move(out), {input, target}, {input, target},
      [norm](const Tensor& g, const BackwardContext& ctx) {
        Tensor grad = mse_loss_backward(g, ctx.saved[0], ctx.saved[1], norm);
        Tensor target_grad = ctx.needs_grad(1) ? -grad : Tensor();
        return Grads{ctx.needs_grad(0) ? std::move(grad) : Tensor(), std::move(target_grad)};
      });
}

}  // namespace ember
