// GradNorm: Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient Normalization for
// Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018 (Algorithm 1).
//
// The weights should make every task train at a similar rate. On the last shared layer W:
//   G_i = |∇_W w_i L_i|                    the gradient norm each weighted task contributes
//   L̃_i = L_i / L_i(0),  r_i = L̃_i / mean(L̃)   the inverse training rate (r_i > 1: slow)
//   L_grad = Σ_i |G_i - Ḡ r_i^α|            Ḡ = mean(G); Ḡ r_i^α is held constant
// and the weights take a gradient step on L_grad while the network takes one on Σ w_i L_i.
// Since w_i does not depend on W, G_i = w_i |∇_W L_i|: one backward per task to W (no double
// backward), and ∂L_grad/∂w_i = sign(G_i - target_i) |∇_W L_i|. This is also how LibMTL
// computes it (norms of fixed per-task gradients times the weights).
//
// The paper renormalises w after each step so that Σ w_i = T; here, as in LibMTL,
// w = T softmax(ξ) over learnable logits ξ, which keeps every w_i > 0 and Σ w_i = T exactly.
// LibMTL takes L_i(0) from the first epoch's mean loss and the gradients of every shared
// parameter; here, as in the paper, L_i(0) is the first step's loss and W the last shared
// layer.

#include <algorithm>
#include <cmath>

#include <ember/core/autograd.h>
#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/multitask/weighting.h>

namespace ember::models::mtl {

GradNorm::GradNorm(Tensor last_shared, int64_t tasks, double alpha)
    : last_shared_(std::move(last_shared)), alpha_(alpha) {
  if (!last_shared_.defined()) throw Error("GradNorm: the last shared layer is undefined");
  if (tasks < 1) throw Error("GradNorm: " + std::to_string(tasks) + " tasks");
  if (!(alpha >= 0)) throw Error("GradNorm: alpha " + std::to_string(alpha) + " < 0");
  logits_ = register_parameter("logits", zeros({tasks}));
  initial_losses_ = register_buffer("initial_losses", zeros({tasks}));
}

Tensor GradNorm::weights() const {
  const NoGradGuard no_grad;
  return softmax(logits_, 0) * static_cast<float>(logits_.numel());
}

void GradNorm::backward(const std::vector<Tensor>& losses) {
  const int64_t T = logits_.numel();
  const Tensor L = detail::loss_vector("GradNorm", losses, T);  // [T]
  float* initial = initial_losses_.data();
  if (initial[0] == 0.f) {  // the first step: L(0)
    for (int64_t i = 0; i < T; ++i) {
      if (!(L.data()[i] > 0.f)) {
        throw Error("GradNorm: the first loss of task " + std::to_string(i) + " is " +
                    std::to_string(L.data()[i]) + "; L_i / L_i(0) needs a positive L_i(0)");
      }
    }
    std::copy(L.data(), L.data() + T, initial);
  }
  const Tensor w = softmax(logits_, 0) * static_cast<float>(T);  // [T], a graph to ξ

  // |∇_W L_i| per task (0 for a task that does not reach W).
  std::vector<float> norms;
  for (const Tensor& loss : losses) {
    const Tensor g = grad({loss}, {last_shared_}, {}, /*retain_graph=*/true,
                          /*create_graph=*/false, /*allow_unused=*/true)[0];
    double squares = 0;
    if (g.defined()) {
      for (float v : g.to_vector()) squares += static_cast<double>(v) * v;
    }
    norms.push_back(static_cast<float>(std::sqrt(squares)));
  }
  const Tensor G = w * tensor(norms, {T});  // [T]

  // The constant targets Ḡ r_i^α.
  double mean_ratio = 0;
  std::vector<double> ratios;
  for (int64_t i = 0; i < T; ++i) {
    ratios.push_back(static_cast<double>(L.data()[i]) / initial[i]);
    mean_ratio += ratios.back() / static_cast<double>(T);
  }
  const double mean_G = static_cast<double>(G.mean().item());
  std::vector<float> targets;
  for (double ratio : ratios)
    targets.push_back(static_cast<float>(mean_G * std::pow(ratio / mean_ratio, alpha_)));
  const Tensor gradnorm_loss = sum(abs(G - tensor(targets, {T})));
  const Tensor logits_grad = grad({gradnorm_loss}, {logits_})[0];

  const Tensor fixed = w.detach();
  sum(fixed * L).backward();
  logits_.set_grad(logits_grad);
  last_weights_.assign(fixed.data(), fixed.data() + T);
}

}  // namespace ember::models::mtl
