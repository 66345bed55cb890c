// Deep ensembles on the 1-D toy of Lakshminarayanan et al. (2017), Figure 1 (the toy of
// Hernández-Lobato & Adams 2015): 20 points x ~ U[-4, 4], y = x³ + ε with ε ~ N(0, 3²).
// Five members, each one hidden layer of 100 ReLU units predicting a mean and a variance,
// trained under Gaussian NLL with adversarial training (ε = 1% of the input range), in
// batches of one (the members then differ by their initialisation and their order of
// samples), with inputs and targets standardised on the training points, then
// combined as a Gaussian mixture. On [-6, 6] the mixture's σ should stay near the noise
// level inside the data and grow outside it: the members agree where they saw data and
// disagree elsewhere.
//
//   ensemble_uncertainty_toy [--quick] [--out DIR]
//
// writes DIR/ensemble_uncertainty_toy.csv (x, true y, mixture mean, σ, mean ± 3σ) and
// DIR/ensemble_uncertainty_toy_train.csv (the training points); plot_ensemble_uncertainty.py
// draws them.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include <ember/ember.h>

using namespace ember;

int main(int argc, char** argv) {
  bool quick = false;
  std::string out = ".";
  int64_t epochs = 0, batch_size = 0;  // 0: the defaults below
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
      out = argv[++i];
    } else if (std::strcmp(argv[i], "--epochs") == 0 && i + 1 < argc) {
      epochs = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--batch-size") == 0 && i + 1 < argc) {
      batch_size = std::atoll(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--out DIR] [--epochs N] [--batch-size B]\n",
                   argv[0]);
      return 2;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const int64_t members = 5, points = 20;
  if (epochs == 0) epochs = quick ? 40 : 400;
  if (batch_size == 0) batch_size = 1;

  manual_seed(0);
  const Tensor x = uniform({points, 1}, -4.f, 4.f);
  const Tensor y = (x * x * x + 3.f * randn({points, 1})).reshape({points});
  // Standardised on the training set; predictions are mapped back to original units.
  const float x_scale = std::sqrt(mean(x * x).item());
  const float y_mean = mean(y).item();
  const float y_scale = std::sqrt(mean((y - y_mean) * (y - y_mean)).item());
  const data::TensorDataset train({x / x_scale, (y - y_mean) / y_scale});

  const models::MultiTaskNetConfig config{
      .inputs = 1, .hidden = {100}, .activation = "relu", .tasks = {models::gaussian("y")}};
  models::Ensemble ensemble(members, [&](int64_t) { return models::MultiTaskNet(config); });
  // Set field by field: GCC 12 at -O3 takes the nested designated initialiser's strings for
  // uninitialised (-Wmaybe-uninitialized).
  train::EnsembleOptions options;
  options.method = train::EnsembleMethod::deep_ensemble;
  options.trainer.epochs = epochs;
  options.trainer.batch_size = batch_size;
  options.optimizer = train::adam_factory(1e-2);
  options.adversarial = true;
  train::fit_ensemble(ensemble, config.tasks, options, train);

  // The mixture on a grid over [-6, 6].
  const int64_t grid_points = 241;
  std::vector<float> grid_values;
  for (int64_t i = 0; i < grid_points; ++i)
    grid_values.push_back(-6.f + 12.f * i / (grid_points - 1));
  const Tensor grid = tensor(grid_values, {grid_points, 1});
  ensemble.eval();
  NoGradGuard no_grad;
  const models::MeanVariance mixture =
      train::gaussian_mixture(ensemble.stacked_outputs(grid / x_scale)[0]);
  const std::vector<float> mean_values = (mixture.mean * y_scale + y_mean).to_vector();
  const std::vector<float> sigma_values = (sqrt(mixture.variance) * y_scale).to_vector();

  std::ofstream curve(out + "/ensemble_uncertainty_toy.csv");
  std::ofstream points_file(out + "/ensemble_uncertainty_toy_train.csv");
  if (!curve || !points_file) {
    std::fprintf(stderr, "cannot write CSV files in %s\n", out.c_str());
    return 1;
  }
  curve << "x,true_y,mean,sigma,lower_3sigma,upper_3sigma\n";
  double inside = 0, outside = 0, squared_error = 0;
  int64_t inside_count = 0, outside_count = 0;
  for (int64_t i = 0; i < grid_points; ++i) {
    const double g = grid_values[i], m = mean_values[i], s = sigma_values[i];
    curve << g << "," << g * g * g << "," << m << "," << s << "," << m - 3 * s << "," << m + 3 * s
          << "\n";
    if (std::abs(g) <= 4.0) {
      inside += s;
      squared_error += (m - g * g * g) * (m - g * g * g);
      ++inside_count;
    } else {
      outside += s;
      ++outside_count;
    }
  }
  points_file << "x,y\n";
  const std::vector<float> xs = x.to_vector(), ys = y.to_vector();
  for (int64_t i = 0; i < points; ++i) points_file << xs[i] << "," << ys[i] << "\n";

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "deep ensemble, %lld members x (1 -> 100 ReLU -> mean, variance), NLL + adversarial\n",
      static_cast<long long>(members));
  std::printf(
      "data: %lld points, x ~ U[-4, 4], y = x^3 + N(0, 3^2); %lld epochs in batches of %lld, "
      "Adam lr 0.01%s\n",
      static_cast<long long>(points), static_cast<long long>(epochs),
      static_cast<long long>(batch_size), quick ? " (--quick)" : "");
  std::printf("%-28s %10s\n", "region of x", "mean sigma");
  std::printf("%-28s %10.3f\n", "inside  [-4, 4] (data)", inside / inside_count);
  std::printf("%-28s %10.3f\n", "outside [-6, -4) U (4, 6]", outside / outside_count);
  std::printf("ratio outside / inside: %.2f (noise sigma 3)\n",
              (outside / outside_count) / (inside / inside_count));
  std::printf("RMSE of the mixture mean against x^3 inside [-4, 4]: %.3f\n",
              std::sqrt(squared_error / inside_count));
  std::printf("wrote %s/ensemble_uncertainty_toy.csv and _train.csv in %.2f s\n", out.c_str(),
              seconds);
  return 0;
}
