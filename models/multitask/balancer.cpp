#include <ember/core/autograd.h>
#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/multitask/aggregators.h>
#include <ember/models/multitask/balancer.h>

#include <cstring>

namespace ember::models::mtl {

namespace {

Tensor sum_of(const std::vector<Tensor>& losses) {
  if (losses.empty()) throw Error("Balancer::backward: no task losses");
  Tensor total = losses[0];
  for (size_t i = 1; i < losses.size(); ++i) total = total + losses[i];
  return total;
}

}  // namespace

void EqualWeighting::backward(const std::vector<Tensor>& losses) {
  sum_of(losses).backward();
  last_weights_.assign(losses.size(), 1.0);
}

JacobianBalancer::JacobianBalancer(std::unique_ptr<Aggregator> aggregator,
                                   std::vector<Tensor> shared)
    : aggregator_(std::move(aggregator)), shared_(std::move(shared)) {
  if (!aggregator_) throw Error("JacobianBalancer: the aggregator is null");
  if (shared_.empty()) throw Error("JacobianBalancer: no shared parameters");
}

void JacobianBalancer::backward(const std::vector<Tensor>& losses) {
  int64_t P = 0;
  for (const Tensor& p : shared_) P += p.numel();
  // J [T, P]: row i is ∂L_i/∂θ_shared, the parameters flattened one after another. A
  // parameter that a task does not reach contributes zeros to its row.
  Tensor jacobian = zeros({static_cast<int64_t>(losses.size()), P});
  for (size_t i = 0; i < losses.size(); ++i) {
    const std::vector<Tensor> grads = grad({losses[i]}, shared_, {}, /*retain_graph=*/true,
                                           /*create_graph=*/false, /*allow_unused=*/true);
    float* row = jacobian.data() + static_cast<int64_t>(i) * P;
    for (size_t k = 0; k < grads.size(); ++k) {
      if (grads[k].defined()) std::memcpy(row, grads[k].data(), sizeof(float) * grads[k].numel());
      row += shared_[k].numel();
    }
  }
  const Tensor update = (*aggregator_)(jacobian);  // [P]
  // Task-specific parameters take ∂(Σ L_i)/∂θ; the shared ones then take the update.
  sum_of(losses).backward();
  const float* source = update.data();
  for (const Tensor& p : shared_) {
    Tensor g = empty(p.shape());
    std::memcpy(g.data(), source, sizeof(float) * p.numel());
    p.set_grad(g);
    source += p.numel();
  }
  last_weights_ = aggregator_->last_weights();
}

const std::vector<std::string>& balancer_names() {
  static const std::vector<std::string> names = {"equal", "pcgrad", "mgda", "cagrad"};
  return names;
}

std::unique_ptr<Balancer> make_balancer(const std::string& name, std::vector<Tensor> shared,
                                        int64_t tasks) {
  if (tasks < 1) throw Error("make_balancer: " + std::to_string(tasks) + " tasks");
  if (name == "equal") return std::make_unique<EqualWeighting>();
  if (name == "pcgrad") {
    return std::make_unique<JacobianBalancer>(std::make_unique<PCGrad>(), std::move(shared));
  }
  if (name == "mgda") {
    return std::make_unique<JacobianBalancer>(std::make_unique<MGDA>(), std::move(shared));
  }
  if (name == "cagrad") {
    return std::make_unique<JacobianBalancer>(std::make_unique<CAGrad>(), std::move(shared));
  }
  std::string known;
  for (const std::string& n : balancer_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown balancing method '" + name + "' (known: " + known + ")");
}

}  // namespace ember::models::mtl
