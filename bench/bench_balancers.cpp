// Time per Trainer step of each gradient aggregator against equal weighting: MultiTaskNet
// 64 -> [256, 256] with 3 regression heads, batch 64, Adam. Prints the median step time over
// several epochs (the first one, a warm-up, left out) per method, and its ratio to "equal".
//
//   bench_balancers [epochs]   (default 8; 16 steps an epoch)

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <ember/ember.h>

using namespace ember;

int main(int argc, char** argv) {
  const int64_t epochs = argc > 1 ? std::stoll(argv[1]) : 8;
  const int64_t batch = 64, steps = 16;
  manual_seed(0);
  const Tensor x = randn({batch * steps, 64});
  std::vector<Tensor> columns = {x};
  for (int t = 0; t < 3; ++t) columns.push_back(randn({batch * steps}));
  const data::TensorDataset dataset(columns);
  const std::vector<models::Task> tasks = {models::regression("a"), models::regression("b"),
                                           models::regression("c")};
  std::printf("%-8s %12s %8s\n", "method", "us/step", "ratio");
  double equal_us = 0;
  for (const std::string name : {"equal", "pcgrad", "mgda", "cagrad"}) {
    manual_seed(1);
    models::MultiTaskNet net({.inputs = 64, .hidden = {256, 256}, .tasks = tasks});
    optim::Adam adam(net.parameters(), {.lr = 1e-3});
    const std::unique_ptr<models::mtl::Balancer> balancer =
        models::mtl::make_balancer(name, net.trunk.parameters(), 3);
    train::Trainer trainer(net, tasks, adam, {.epochs = epochs, .batch_size = batch});
    trainer.set_balancer(balancer.get());
    // The time between consecutive step ends; the median drops epoch boundaries.
    struct StepClock : train::Callback {
      std::vector<double> per_step;
      std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
      void on_step_end(const train::StepResult&) override {
        const auto now = std::chrono::steady_clock::now();
        per_step.push_back(std::chrono::duration<double, std::micro>(now - last).count());
        last = now;
      }
    };
    const auto clock = std::make_shared<StepClock>();
    trainer.add_callback(clock);
    trainer.fit(dataset);
    std::vector<double> per_step(clock->per_step.begin() + steps, clock->per_step.end());
    std::sort(per_step.begin(), per_step.end());
    const double median = per_step[per_step.size() / 2];
    if (name == "equal") equal_us = median;
    std::printf("%-8s %12.1f %8.2f\n", name.c_str(), median, median / equal_us);
  }
}
