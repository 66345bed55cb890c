// What each balancing method (models/multitask/balancer.h) costs per training step, against
// equal weighting: a MultiTaskNet 64 -> [256, 256] -> three regression heads, batch 64, Adam,
// through train::Trainer. Prints, for every name in balancer_names(), the median of 5 fits
// of 2 epochs x 50 steps as microseconds per step and as a multiple of "equal".
//
//   build/bench/bench_balancers [method ...]    (default: all methods)

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <ember/ember.h>
#include <ember/models/multitask/balancer.h>

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kBatch = 64, kSteps = 50, kEpochs = 2, kRuns = 5;

double microseconds_per_step(const std::string& method, const data::TensorDataset& data) {
  std::vector<double> samples;
  for (int run = 0; run < kRuns; ++run) {
    manual_seed(run);
    models::MultiTaskNet net(
        {.inputs = 64,
         .hidden = {256, 256},
         .tasks = {models::regression("a"), models::regression("b"), models::regression("c")}});
    auto balancer = models::mtl::make_balancer(method, net.shared_parameters(), net.config().tasks);
    std::vector<Tensor> parameters = net.parameters();
    for (const Tensor& p : balancer->parameters()) parameters.push_back(p);
    optim::Adam adam(parameters, {.lr = 1e-3});
    train::Trainer trainer(net, net.config().tasks, adam,
                           {.epochs = kEpochs,
                            .batch_size = kBatch,
                            .monitor = "train/loss",
                            .restore_best = false,
                            .stop_on_interrupt = false});
    trainer.set_balancer(balancer.get());
    const auto start = Clock::now();
    trainer.fit(data);
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count() /
                      double(kEpochs * kSteps));
  }
  std::sort(samples.begin(), samples.end());
  return samples[kRuns / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> methods(argv + 1, argv + argc);
  if (methods.empty()) methods = models::mtl::balancer_names();
  manual_seed(0);
  const int64_t n = kBatch * kSteps;
  const data::TensorDataset data({randn({n, 64}), randn({n}), randn({n}), randn({n})});
  std::printf(
      "MultiTaskNet 64 -> [256, 256] -> 3 heads, batch %lld, Adam, Trainer; median of "
      "%lld fits of %lld steps\n",
      static_cast<long long>(kBatch), static_cast<long long>(kRuns),
      static_cast<long long>(kEpochs * kSteps));
  const double equal = microseconds_per_step("equal", data);
  std::printf("%-12s %10s %8s\n", "method", "us/step", "x equal");
  for (const std::string& method : methods) {
    const double us = method == "equal" ? equal : microseconds_per_step(method, data);
    std::printf("%-12s %10.1f %8.2f\n", method.c_str(), us, us / equal);
  }
}
