// An ensemble of K members 10 -> 50 -> 1 (ReLU) on a batch of 64, run two ways: looped (a
// models::Ensemble of K MultiTaskNets, one forward per member) and batched (the same weights
// as one models::BatchedMLP, one batched_linear per layer). Per K = 1 ... 32: microseconds
// per training step (forward, MSE averaged over members, backward, Adam step) and per
// inference (forward only, no graph), each the median of 9 runs after a warm-up, with the
// looped / batched ratio. The last column is a BatchEnsembleNet of K members (one shared
// weight per layer plus rank-1 fast weights) trained the same way, for comparison.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <ember/ember.h>
#include <ember/kernels/cpu/cpu_level.h>

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

// Median seconds per call of `step` over 9 runs of `calls` calls, after calls / 4 warm-up
// calls (caches, allocator pools).
template <class Step>
double median_time(int calls, const Step& step) {
  for (int i = 0; i < calls / 4; ++i) step();
  std::vector<double> samples;
  for (int run = 0; run < 9; ++run) {
    const auto start = Clock::now();
    for (int i = 0; i < calls; ++i) step();
    samples.push_back(std::chrono::duration<double>(Clock::now() - start).count() / calls);
  }
  std::sort(samples.begin(), samples.end());
  return samples[4];
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
    const double train_loop = median_time(calls, looped_step) * 1e6;
    const double train_batch = median_time(calls, batched_step) * 1e6;
    const double infer_loop = median_time(calls, looped_inference) * 1e6;
    const double infer_batch = median_time(calls, batched_inference) * 1e6;
    const double train_be = median_time(calls, batch_ensemble_step) * 1e6;
    std::printf("%4lld | %12.1f %12.1f %6.2fx | %12.1f %12.1f %6.2fx | %12.1f\n",
                static_cast<long long>(members), train_loop, train_batch, train_loop / train_batch,
                infer_loop, infer_batch, infer_loop / infer_batch, train_be);
  }
  return 0;
}
