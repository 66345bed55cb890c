// One training step of the seed MultiTaskModel on a batch of 10: forward, summed MSE over
// the three tasks, backward, SGD step. bench/torch_seed_step.py times the same step in
// PyTorch. Prints microseconds per step (median of 9 runs of 2,000 steps).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <ember/ember.h>

using namespace ember;
using Clock = std::chrono::steady_clock;

int main() {
  manual_seed(0);
  models::MultiTaskModel model;
  optim::SGD optimizer(model.parameters(), {.lr = 0.01});
  const Tensor x = randn({10, 10});
  const std::vector<Tensor> targets = {randn({10, 1}), randn({10, 1}), randn({10, 1})};

  auto step = [&] {
    optimizer.zero_grad();
    const std::vector<Tensor> outputs = model.forward(x);
    Tensor loss = nn::mse_loss(outputs[0], targets[0]) + nn::mse_loss(outputs[1], targets[1]) +
                  nn::mse_loss(outputs[2], targets[2]);
    loss.backward();
    optimizer.step();
  };
  for (int i = 0; i < 500; ++i) step();  // warm-up: caches, allocator
  std::vector<double> samples;
  for (int run = 0; run < 9; ++run) {
    const auto start = Clock::now();
    for (int i = 0; i < 2000; ++i) step();
    samples.push_back(std::chrono::duration<double>(Clock::now() - start).count() / 2000);
  }
  std::sort(samples.begin(), samples.end());
  std::printf("%-52s %9.1f us\n", "ember seed MultiTaskModel step (batch 10)", samples[4] * 1e6);
  return 0;
}
