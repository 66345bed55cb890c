// PCGrad's two-dimensional toy (Yu et al. 2020, "Gradient Surgery for Multi-Task Learning",
// Figure 1 and its appendix): two losses of θ = (θ1, θ2) whose sum has a long, curved valley,
//   L1(θ) = 20 log(max(|0.5 θ1 + tanh(θ2)|, 5e-6))
//   L2(θ) = 25 log(max(|0.5 θ1 - tanh(θ2) + 2|, 5e-6)),
// both at their floor, 45 log(5e-6) ≈ -549.3, when θ1 = -2 and tanh(θ2) ≈ 1 (θ2 >~ 6).
// Inside the valley the two gradients conflict and differ in magnitude, which is where the
// paper shows Adam stalling and Adam with PCGrad reaching the optimum.
// We start from (0.5, -3) and use Adam with lr 1e-3, as a public PyTorch reproduction of
// this figure does; the paper's appendix gives the function, and its log is taken as natural
// (a base-10 log only scales both losses by one factor, which Adam's updates and PCGrad's
// projections ignore).
//
//   pcgrad_toy [--quick] [--csv PATH]
// prints each method's end point and losses and writes every 100th point of both paths to
// PATH (default pcgrad_toy.csv) for examples/plot_pcgrad_toy.py. --quick: 2,000 steps.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include <ember/ember.h>

using namespace ember;

namespace {

// [L1, L2] at θ [2].
std::vector<Tensor> toy_losses(const Tensor& theta) {
  const Tensor theta1 = narrow(theta, 0, 0, 1), theta2 = narrow(theta, 0, 1, 1);
  const Tensor floor = full({1}, 5e-6f);
  const Tensor a = 0.5f * theta1 + tanh(theta2), b = 0.5f * theta1 - tanh(theta2) + 2.f;
  return {20.f * log(maximum(abs(a), floor)).sum(), 25.f * log(maximum(abs(b), floor)).sum()};
}

struct Run {
  std::string method;
  float theta1, theta2, loss1, loss2;
};

Run optimise(const std::string& method, int64_t steps, std::ofstream& csv) {
  Tensor theta = tensor({0.5f, -3.f}, {2}, /*requires_grad=*/true);
  optim::Adam adam({theta}, {.lr = 1e-3});
  const std::unique_ptr<models::mtl::Balancer> balancer =
      models::mtl::make_balancer(method == "adam" ? "equal" : "pcgrad", {theta},
                                 {models::regression("L1"), models::regression("L2")});
  for (int64_t step = 0; step <= steps; ++step) {
    adam.zero_grad();
    const std::vector<Tensor> losses = toy_losses(theta);
    const std::vector<float> at = theta.to_vector();
    if (step % 100 == 0 || step == steps) {
      csv << method << ',' << step << ',' << at[0] << ',' << at[1] << ',' << losses[0].item() << ','
          << losses[1].item() << '\n';
    }
    if (step == steps) return {method, at[0], at[1], losses[0].item(), losses[1].item()};
    balancer->backward(losses);
    adam.step();
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  int64_t steps = 100000;
  std::string csv_path = "pcgrad_toy.csv";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      steps = 2000;
    } else if (arg == "--csv" && i + 1 < argc) {
      csv_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: pcgrad_toy [--quick] [--csv PATH]\n");
      return 2;
    }
  }
  std::ofstream csv(csv_path);
  if (!csv) {
    std::fprintf(stderr, "pcgrad_toy: cannot write %s\n", csv_path.c_str());
    return 1;
  }
  csv << "method,step,theta1,theta2,loss1,loss2\n";
  const auto start = std::chrono::steady_clock::now();
  std::printf("PCGrad toy (Yu et al. 2020): Adam lr 1e-3 from (0.5, -3), %lld steps\n",
              static_cast<long long>(steps));
  std::printf("optimum: theta1 = -2, tanh(theta2) ~ 1, L1 + L2 = 45 log(5e-6) = %.1f\n",
              45 * std::log(5e-6));
  std::printf("%-14s %10s %10s %10s %10s %10s\n", "method", "theta1", "theta2", "L1", "L2",
              "L1 + L2");
  for (const std::string method : {"adam", "adam+pcgrad"}) {
    const Run run = optimise(method, steps, csv);
    std::printf("%-14s %10.4f %10.4f %10.2f %10.2f %10.2f\n", run.method.c_str(), run.theta1,
                run.theta2, run.loss1, run.loss2, run.loss1 + run.loss2);
  }
  std::printf("paths: %s (%.1f s)\n", csv_path.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}
