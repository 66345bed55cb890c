// An ensemble of K members 10 -> 50 -> 1 (ReLU) on a batch of 64, run two ways: looped (a
// models::Ensemble of K MultiTaskNets, one forward per member) and batched (the same weights
// as one models::BatchedMLP, one batched_linear per layer). Per K = 1 ... 32: microseconds
// per training step (forward, MSE averaged over members, backward, Adam step) and per
// inference (forward only, no graph), each the median of 9 interleaved runs after a warm-up,
// with the looped / batched ratio. The last column is a BatchEnsembleNet of K members (one shared
// weight per layer plus rank-1 fast weights) trained the same way, for comparison.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include <ember/ember.h>
#include <ember/kernels/cpu/cpu_level.h>

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

// Median seconds per call of each step over 9 rounds, after calls / 4 warm-up calls of each
// (caches, allocator pools). Every round runs each step `calls` times in turn, so a burst of
// load on a shared machine lands on all of them alike rather than on whichever was being
// timed: run one after the other, six runs at load 0.5-0.7 put the K = 8 training ratio
// anywhere from 0.95x to 2.28x.
std::vector<double> interleaved_medians(int calls,
                                        const std::vector<std::function<void()>>& steps) {
  for (const auto& step : steps)
    for (int i = 0; i < calls / 4; ++i) step();
  std::vector<std::vector<double>> samples(steps.size());
  for (int round = 0; round < 9; ++round) {
    for (size_t s = 0; s < steps.size(); ++s) {
      const auto start = Clock::now();
      for (int i = 0; i < calls; ++i) steps[s]();
      samples[s].push_back(std::chrono::duration<double>(Clock::now() - start).count() / calls);
    }
  }
  std::vector<double> medians;
  for (std::vector<double>& times : samples) {
    std::sort(times.begin(), times.end());
    medians.push_back(times[4]);
  }
  return medians;
}

}  // namespace

int main() {
  std::printf("CPU kernels: %s\n", kernels::cpu::cpu_level_name(kernels::cpu::cpu_level()));
  std::printf("ensembles of K members 10 -> 50 -> 1 (ReLU), batch 64, Adam; us per call\n");
  std::printf("%4s | %12s %12s %7s | %12s %12s %7s | %12s\n", "K", "train loop", "train batch",
              "ratio", "infer loop", "infer batch", "ratio", "train BE");
  const models::MultiTaskNetConfig config{
      .inputs = 10, .hidden = {50}, .tasks = {models::regression("y")}};
  for (int64_t members : {1, 2, 4, 8, 16, 32}) {
    manual_seed(0);
    models::Ensemble looped(members, [&](int64_t) { return models::MultiTaskNet(config); });
    models::BatchedMLP batched = models::BatchedMLP::from_ensemble(looped);
    models::BatchEnsembleNet batch_ensemble(members, config);
    const Tensor x = randn({64, 10}), y = randn({64, 1});
    const Tensor y_stacked = clone(expand(unsqueeze(y, 0), {members, 64, 1}));
    optim::Adam looped_adam(looped.parameters(), {.lr = 1e-3});
    optim::Adam batched_adam(batched.parameters(), {.lr = 1e-3});
    optim::Adam batch_ensemble_adam(batch_ensemble.parameters(), {.lr = 1e-3});

    const auto looped_step = [&] {
      looped_adam.zero_grad();
      Tensor loss = nn::mse_loss(looped.member_outputs(0, x)[0], y);
      for (int64_t k = 1; k < members; ++k)
        loss = loss + nn::mse_loss(looped.member_outputs(k, x)[0], y);
      (loss / float(members)).backward();
      looped_adam.step();
    };
    // The mean over [K, 64, 1] is the mean over members of each member's MSE.
    const auto batched_step = [&] {
      batched_adam.zero_grad();
      nn::mse_loss(batched.forward(x)[0], y_stacked).backward();
      batched_adam.step();
    };
    const auto batch_ensemble_step = [&] {
      batch_ensemble_adam.zero_grad();
      nn::mse_loss(batch_ensemble.forward(x)[0], y_stacked).backward();
      batch_ensemble_adam.step();
    };
    const auto looped_inference = [&] {
      NoGradGuard no_grad;
      looped.stacked_outputs(x);
    };
    const auto batched_inference = [&] {
      NoGradGuard no_grad;
      batched.forward(x);
    };

    const int calls = static_cast<int>(std::max<int64_t>(100, 4000 / members));
    const std::vector<double> us = interleaved_medians(
        calls,
        {looped_step, batched_step, looped_inference, batched_inference, batch_ensemble_step});
    const double train_loop = us[0] * 1e6, train_batch = us[1] * 1e6, infer_loop = us[2] * 1e6,
                 infer_batch = us[3] * 1e6, train_be = us[4] * 1e6;
    std::printf("%4lld | %12.1f %12.1f %6.2fx | %12.1f %12.1f %6.2fx | %12.1f\n",
                static_cast<long long>(members), train_loop, train_batch, train_loop / train_batch,
                infer_loop, infer_batch, infer_loop / infer_batch, train_be);
  }
  return 0;
}
