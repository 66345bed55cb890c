// What each loss weighting costs per training step, against equal weighting: a MultiTaskNet
// 64 -> [256, 256] with three regression heads, batch 64, Adam, driven by the Trainer (so a
// step includes the forward, the method's backward, the optimizer step and, for FAMO, the
// second forward on the same batch). Prints microseconds of process CPU time per step (CPU
// time, not wall time, so that other load on a shared machine counts less; run it with
// OMP_NUM_THREADS=1), the median of 3 fits of 2 epochs of 50 steps each after one warm-up
// fit, and the ratio to equal weighting.

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include <ember/ember.h>

using namespace ember;

int main() {
  const int64_t batch = 64, steps_per_epoch = 50, epochs = 2;
  const std::vector<models::Task> tasks = {models::regression("a"), models::regression("b"),
                                           models::regression("c")};
  manual_seed(0);
  const Tensor x = randn({batch * steps_per_epoch, 64});
  const Tensor w = randn({64, 3});
  const Tensor y = tanh(matmul(x, w));
  const data::TensorDataset train_set({x, y.index_select(1, tensor({0.f})).reshape({-1}),
                                       y.index_select(1, tensor({1.f})).reshape({-1}),
                                       y.index_select(1, tensor({2.f})).reshape({-1})});

  std::printf("MultiTaskNet 64 -> [256, 256], 3 regression tasks, batch %lld, Adam; Trainer\n",
              static_cast<long long>(batch));
  std::printf("%-12s  %10s  %8s\n", "method", "us/step", "x equal");
  double equal_time = 0;
  for (const std::string name : {"equal", "uncertainty", "gradnorm", "dwa", "famo"}) {
    std::vector<double> samples;
    for (int run = 0; run < 4; ++run) {
      manual_seed(1);
      models::MultiTaskNet net({.inputs = 64, .hidden = {256, 256}, .tasks = tasks});
      const auto balancer = models::mtl::make_balancer(name, net.trunk.parameters(), tasks);
      optim::Adam adam(net.parameters(), {.lr = 1e-3});
      if (!balancer->parameters().empty()) adam.add_param_group({balancer->parameters()});
      train::Trainer trainer(net, tasks, adam,
                             {.epochs = epochs, .batch_size = batch, .restore_best = false});
      trainer.set_balancer(balancer.get());
      const std::clock_t start = std::clock();
      trainer.fit(train_set);
      const double seconds = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
      if (run > 0) samples.push_back(seconds / static_cast<double>(epochs * steps_per_epoch));
    }
    std::sort(samples.begin(), samples.end());
    const double median = samples[samples.size() / 2];
    if (name == "equal") equal_time = median;
    std::printf("%-12s  %10.1f  %8.2f\n", name.c_str(), median * 1e6, median / equal_time);
  }
}
