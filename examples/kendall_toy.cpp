// Uncertainty weighting on the toy problem of Kendall, Gal & Cipolla (CVPR 2018): two
// regressions of one input with noise of standard deviation 10 and 1,
//   x ~ N(0, 1), N = 100,  y1 = 2x + 8 + 10 ε1,  y2 = 3x + 3 + ε2,  ε ~ N(0, 1),
// fitted by Linear(1, 1024) -> ReLU -> two Linear(1024, 1) heads with Adam (lr 1e-3), batch
// 20, 2000 epochs, unscaled targets. The learned σ_i = exp(s_i / 2) should approach the
// noise scales (10, 1). At the optimum of ½ exp(-s) L + ½ s, exp(s) equals the training mean
// squared error, so the table also prints each head's training RMSE: σ follows what the
// network leaves unexplained, which an over-parameterised network pushes below the noise.
//
//   kendall_toy            the full run (2000 epochs)
//   kendall_toy --quick    200 epochs (the ctest)

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include <ember/ember.h>

using namespace ember;

namespace {

// Records σ and the training losses every `every` epochs.
struct SigmaTable : train::Callback {
  const models::mtl::UncertaintyWeighting* uncertainty = nullptr;
  int64_t every = 1;
  void on_epoch_end(const train::EpochResult& epoch) override {
    if ((epoch.epoch + 1) % every != 0) return;
    const std::vector<double> sigma = uncertainty->sigma();
    std::printf("%6lld  %8.3f  %8.3f  %10.3f  %10.3f\n", static_cast<long long>(epoch.epoch + 1),
                sigma[0], sigma[1], std::sqrt(epoch.metrics.at("train/y1/loss")),
                std::sqrt(epoch.metrics.at("train/y2/loss")));
  }
};

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const int64_t epochs = quick ? 200 : 2000;

  manual_seed(0);
  const int64_t N = 100;
  const Tensor x = randn({N, 1});
  const Tensor y1 = (2.f * x + 8.f + 10.f * randn({N, 1})).reshape({N});
  const Tensor y2 = (3.f * x + 3.f + randn({N, 1})).reshape({N});
  const std::vector<models::Task> tasks = {models::regression("y1"), models::regression("y2")};

  models::MultiTaskNet net({.inputs = 1, .hidden = {1024}, .tasks = tasks});
  models::mtl::UncertaintyWeighting uncertainty(tasks);
  optim::Adam adam(net.parameters(), {.lr = 1e-3});
  adam.add_param_group({uncertainty.parameters()});
  // The last epoch's weights, not the best one's: σ belongs with the network it was learned on.
  train::Trainer trainer(net, tasks, adam,
                         {.epochs = epochs, .batch_size = 20, .restore_best = false});
  trainer.set_balancer(&uncertainty);
  auto table = std::make_shared<SigmaTable>();
  table->uncertainty = &uncertainty;
  table->every = epochs / 10;
  trainer.add_callback(table);

  std::printf(
      "Kendall et al.'s toy: y1 = 2x + 8 + 10 eps, y2 = 3x + 3 + eps, N = %lld, "
      "%lld epochs, batch 20, Adam lr 1e-3, seed 0\n",
      static_cast<long long>(N), static_cast<long long>(epochs));
  std::printf("%6s  %8s  %8s  %10s  %10s\n", "epoch", "sigma1", "sigma2", "rmse1", "rmse2");
  const auto start = std::chrono::steady_clock::now();
  trainer.fit(data::TensorDataset({x, y1, y2}));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::vector<double> sigma = uncertainty.sigma();
  std::printf("\n%-6s  %8s  %8s\n", "task", "sigma", "true");
  std::printf("%-6s  %8.3f  %8.3f\n", "y1", sigma[0], 10.0);
  std::printf("%-6s  %8.3f  %8.3f\n", "y2", sigma[1], 1.0);
  std::printf("trained in %.1f s\n", seconds);
  // s moves about lr = 1e-3 per step, so 200 epochs (1,000 steps) take σ1 only partway;
  // what every run must show is the noisy task's σ above the clean one's.
  return sigma[0] > sigma[1] ? 0 : 1;
}
