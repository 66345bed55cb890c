// One training step of the seed MultiTaskModel on a batch of 10: forward, summed MSE over
// the three tasks, backward, SGD step. bench/torch_seed_step.py times the same step in
// PyTorch. Prints microseconds per step (median of 9 runs of 2,000 steps), then where the
// time goes (each phase timed on its own) and how many heap allocations a step makes. The first
// line names the CPU level the GEMM runs at (kernels/cpu/cpu_level.h).
// Then the same for the seed EnsembleModel (MSE of the averaged prediction).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include <ember/ember.h>
#include <ember/kernels/cpu/cpu_level.h>

using namespace ember;
using Clock = std::chrono::steady_clock;

// Counts calls to the global operator new (ember's pool falls back to it when it has no free
// block; Eigen's own buffers use malloc and are not counted).
static long heap_allocations = 0;
void* operator new(std::size_t bytes) {
  ++heap_allocations;
  if (void* p = std::malloc(bytes == 0 ? 1 : bytes)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Median seconds per call of `step` over 9 runs of 2,000 calls, after 500 warm-up calls
// (caches, allocator pools).
template <class Step>
double median_step_time(const Step& step) {
  for (int i = 0; i < 500; ++i) step();
  std::vector<double> samples;
  for (int run = 0; run < 9; ++run) {
    const auto start = Clock::now();
    for (int i = 0; i < 2000; ++i) step();
    samples.push_back(seconds(Clock::now() - start) / 2000);
  }
  std::sort(samples.begin(), samples.end());
  return samples[4];
}

template <class Step>
double allocations_per_step(const Step& step) {
  const long before = heap_allocations;
  for (int i = 0; i < 1000; ++i) step();
  return double(heap_allocations - before) / 1000;
}

struct Step {
  models::MultiTaskModel& model;
  optim::SGD& optimizer;
  const Tensor& x;
  const std::vector<Tensor>& targets;

  Tensor summed_loss(const std::vector<Tensor>& outputs) const {
    return nn::mse_loss(outputs[0], targets[0]) + nn::mse_loss(outputs[1], targets[1]) +
           nn::mse_loss(outputs[2], targets[2]);
  }

  // The step as a user writes it.
  void operator()() const {
    optimizer.zero_grad();
    Tensor loss = summed_loss(model.forward(x));
    loss.backward();
    optimizer.step();
  }

  // The same step with a clock read between phases; adds `spent` per phase. The last phase
  // frees the graph (the outputs and the loss going out of scope) and clears the gradients.
  void timed(double spent[5]) const {
    const auto t0 = Clock::now();
    Tensor loss;
    {
      const std::vector<Tensor> outputs = model.forward(x);
      const auto t1 = Clock::now();
      loss = summed_loss(outputs);
      spent[0] += seconds(t1 - t0);
      spent[1] += seconds(Clock::now() - t1);
    }
    const auto t2 = Clock::now();
    loss.backward();
    const auto t3 = Clock::now();
    optimizer.step();
    const auto t4 = Clock::now();
    loss = Tensor();
    optimizer.zero_grad();
    spent[2] += seconds(t3 - t2);
    spent[3] += seconds(t4 - t3);
    spent[4] += seconds(Clock::now() - t4);
  }
};

}  // namespace

int main() {
  std::printf("CPU kernels: %s (set EMBER_CPU=baseline|avx2|avx512 to choose)\n",
              kernels::cpu::cpu_level_name(kernels::cpu::cpu_level()));
  manual_seed(0);
  models::MultiTaskModel model;
  optim::SGD optimizer(model.parameters(), {.lr = 0.01});
  const Tensor x = randn({10, 10});
  const std::vector<Tensor> targets = {randn({10, 1}), randn({10, 1}), randn({10, 1})};
  const Step step{model, optimizer, x, targets};
  std::printf("%-52s %9.1f us\n", "ember seed MultiTaskModel step (batch 10)",
              median_step_time(step) * 1e6);

  double spent[5] = {};
  const int timed_steps = 20000;
  for (int i = 0; i < timed_steps; ++i) step.timed(spent);
  std::printf(
      "  phases, timed separately (us): forward %.2f, loss %.2f, backward %.2f, "
      "SGD step %.2f, free graph + zero_grad %.2f\n",
      spent[0] / timed_steps * 1e6, spent[1] / timed_steps * 1e6, spent[2] / timed_steps * 1e6,
      spent[3] / timed_steps * 1e6, spent[4] / timed_steps * 1e6);

  std::printf("  heap allocations (operator new) per step: %.1f\n", allocations_per_step(step));

  models::EnsembleModel ensemble;
  optim::SGD ensemble_optimizer(ensemble.parameters(), {.lr = 0.01});
  const Tensor target = randn({10, 1});
  const auto ensemble_step = [&] {
    ensemble_optimizer.zero_grad();
    Tensor loss = nn::mse_loss(ensemble.forward(x), target);
    loss.backward();
    ensemble_optimizer.step();
  };
  std::printf("%-52s %9.1f us\n", "ember seed EnsembleModel step (batch 10)",
              median_step_time(ensemble_step) * 1e6);
  std::printf("  heap allocations (operator new) per step: %.1f\n",
              allocations_per_step(ensemble_step));
  return 0;
}
