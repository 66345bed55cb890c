// Deep ensembles on a UCI-style regression set, the protocol of Lakshminarayanan et al. (2017)
// Table 1 (itself Hernández-Lobato & Adams 2015's): 20 random 90/10 train/test splits; on each,
// 5 members of one hidden layer of 50 ReLU units predicting a mean and a variance, trained for
// 40 epochs under Gaussian NLL by Adam at the paper's lr 0.1 in batches of 100 (Section 3.1),
// with inputs and targets standardised on the train split. The members are combined as one
// Gaussian of the mixture's mean and variance, and scored on the test split in the target's
// own units: RMSE of the mean and the Gaussian NLL, reported as mean ± standard error over the
// splits. Four rows: the ensemble (K = 5) and its member 0 alone (K = 1), each trained plainly
// and with the paper's adversarial training (+AT, ε = 0.01 × each input's range).
//
// The data is scikit-learn's diabetes set (data/make_diabetes.py; the paper does not use it, so
// there are no published numbers to compare with). The splits are read from
// data/diabetes_splits.csv.gz, so bench/deep_ensemble_uci.py runs PyTorch on the same ones.
//
//   deep_ensemble_uci [--quick] [--data DIR]
//
// --quick runs 2 splits of 5 epochs (the ctest); DIR holds the two data files ("data").

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <numbers>
#include <string>
#include <vector>

#include <ember/ember.h>

using namespace ember;

namespace {

// One variant's scores on one split.
struct Score {
  double rmse = 0, nll = 0;
};

// Scores a Gaussian prediction (mean, variance [B], standardised units) against targets y [B]
// in original units. With y = m + s·z, the prediction N(μ, σ²) for z is N(m + sμ, s²σ²) for y,
// so the NLL per point is 0.5 log(2π s²σ²) + (y − m − sμ)² / (2 s²σ²): the standardised NLL
// plus log s, the change of variables' Jacobian.
Score score(const models::MeanVariance& prediction, const Tensor& y,
            const data::StandardScaler& y_scaler) {
  const std::vector<float> mu =
      y_scaler.inverse_transform(prediction.mean.reshape({-1, 1})).to_vector();
  const std::vector<float> var =
      y_scaler.inverse_transform_var(prediction.variance.reshape({-1, 1})).to_vector();
  const std::vector<float> target = y.to_vector();
  double squared = 0, nll = 0;
  for (size_t i = 0; i < target.size(); ++i) {
    const double error = target[i] - mu[i];
    squared += error * error;
    nll += 0.5 * std::log(2 * std::numbers::pi * var[i]) + error * error / (2 * var[i]);
  }
  const double n = static_cast<double>(target.size());
  return {std::sqrt(squared / n), nll / n};
}

// Mean and standard error (sample std / √n) of values, n >= 1; the error is 0 for n = 1.
std::pair<double, double> mean_and_error(const std::vector<double>& values) {
  const double n = static_cast<double>(values.size());
  double sum = 0, squares = 0;
  for (double v : values) sum += v;
  const double mean = sum / n;
  for (double v : values) squares += (v - mean) * (v - mean);
  return {mean, values.size() > 1 ? std::sqrt(squares / (n - 1) / n) : 0.0};
}

// Row indices (as floats, for index_select) where `mask` [N] is `flag`.
Tensor rows_where(const std::vector<float>& mask, float flag) {
  std::vector<float> rows;
  for (size_t i = 0; i < mask.size(); ++i)
    if (mask[i] == flag) rows.push_back(static_cast<float>(i));
  return tensor(rows, {static_cast<int64_t>(rows.size())});
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string data_dir = "data";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
      data_dir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--data DIR]\n", argv[0]);
      return 2;
    }
  }
  const int64_t members = 5, epochs = quick ? 5 : 40, batch_size = 100;
  const double lr = 0.1;

  // diabetes.csv.gz: ten features, then the target; splits: one test mask per column.
  const data::CsvTable table = data::read_csv(data_dir + "/diabetes.csv.gz");
  const data::CsvTable splits = data::read_csv(data_dir + "/diabetes_splits.csv.gz");
  const int64_t features = table.values.size(1) - 1;
  const Tensor x_all = narrow(table.values, 1, 0, features);
  const Tensor y_all = narrow(table.values, 1, features, 1);  // [N, 1]
  const int64_t split_count = quick ? 2 : splits.values.size(1);

  const models::MultiTaskNetConfig config{
      .inputs = features, .hidden = {50}, .activation = "relu", .tasks = {models::gaussian("y")}};
  const char* names[] = {"deep ensemble K=5", "single net K=1", "deep ensemble K=5 +AT",
                         "single net K=1 +AT"};
  std::vector<Score> scores[4];
  // Training and scoring time of the plain and the +AT ensembles: wall clock, and the process's
  // CPU time (steadier than the wall clock on a shared machine).
  double seconds[2] = {0, 0}, cpu_seconds[2] = {0, 0};

  std::printf(
      "deep ensembles on diabetes (%lld rows, %lld features): %lld splits, %lld members "
      "x (%lld -> 50 ReLU -> mean, variance), %lld epochs, Adam lr %g, batch %lld%s\n",
      static_cast<long long>(table.values.size(0)), static_cast<long long>(features),
      static_cast<long long>(split_count), static_cast<long long>(members),
      static_cast<long long>(features), static_cast<long long>(epochs), lr,
      static_cast<long long>(batch_size), quick ? " (--quick)" : "");
  std::printf("%-6s %-24s %9s %8s\n", "split", "model", "RMSE", "NLL");
  for (int64_t split = 0; split < split_count; ++split) {
    const std::vector<float> mask = narrow(splits.values, 1, split, 1).to_vector();
    const Tensor train_rows = rows_where(mask, 0.f), test_rows = rows_where(mask, 1.f);
    // Standardised with the train split's mean and (population) std only.
    data::StandardScaler x_scaler, y_scaler;
    const Tensor x_train = x_scaler.fit_transform(index_select(x_all, 0, train_rows));
    const Tensor y_train = y_scaler.fit_transform(index_select(y_all, 0, train_rows));
    const Tensor x_test = x_scaler.transform(index_select(x_all, 0, test_rows));
    const Tensor y_test = index_select(y_all, 0, test_rows).reshape({-1});
    const data::TensorDataset train({x_train, y_train.reshape({-1})});

    for (int adversarial = 0; adversarial < 2; ++adversarial) {
      const auto start = std::chrono::steady_clock::now();
      const std::clock_t cpu_start = std::clock();
      manual_seed(static_cast<uint64_t>(split));
      models::Ensemble ensemble(members, [&](int64_t) { return models::MultiTaskNet(config); });
      // Set field by field: GCC 12 at -O3 takes the nested designated initialiser's strings
      // for uninitialised (-Wmaybe-uninitialized).
      train::EnsembleOptions options;
      options.method = train::EnsembleMethod::deep_ensemble;
      options.trainer.epochs = epochs;
      options.trainer.batch_size = batch_size;
      options.trainer.restore_best = false;  // the paper keeps the last weights
      options.optimizer = train::adam_factory(lr);
      options.adversarial = adversarial == 1;
      train::fit_ensemble(ensemble, config.tasks, options, train);

      ensemble.eval();
      NoGradGuard no_grad;
      const Tensor stacked = ensemble.stacked_outputs(x_test)[0];  // [K, B, 2]
      const Score mixture = score(train::gaussian_mixture(stacked), y_test, y_scaler);
      const Score single =
          score(models::gaussian_mean_variance(stacked.narrow(0, 0, 1).reshape({-1, 2})), y_test,
                y_scaler);
      seconds[adversarial] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      cpu_seconds[adversarial] += static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
      scores[2 * adversarial].push_back(mixture);
      scores[2 * adversarial + 1].push_back(single);
      std::printf("%-6lld %-24s %9.3f %8.3f\n%-6s %-24s %9.3f %8.3f\n",
                  static_cast<long long>(split), names[2 * adversarial], mixture.rmse, mixture.nll,
                  "", names[2 * adversarial + 1], single.rmse, single.nll);
    }
  }

  std::printf("\nover %lld splits (mean ± standard error), in the target's units:\n",
              static_cast<long long>(split_count));
  std::printf("%-24s %18s %18s %10s %10s\n", "model", "RMSE", "NLL", "wall (s)", "cpu (s)");
  for (int row = 0; row < 4; ++row) {
    std::vector<double> rmse, nll;
    for (const Score& s : scores[row]) {
      rmse.push_back(s.rmse);
      nll.push_back(s.nll);
    }
    const auto [rmse_mean, rmse_error] = mean_and_error(rmse);
    const auto [nll_mean, nll_error] = mean_and_error(nll);
    // K = 1 is member 0 of the K = 5 run above it, so it has no time of its own.
    char wall[16] = "", cpu[16] = "";
    if (row % 2 == 0) {
      std::snprintf(wall, sizeof wall, "%.2f", seconds[row / 2]);
      std::snprintf(cpu, sizeof cpu, "%.2f", cpu_seconds[row / 2]);
    }
    std::printf("%-24s %9.3f ± %6.3f %9.3f ± %6.3f %10s %10s\n", names[row], rmse_mean, rmse_error,
                nll_mean, nll_error, wall, cpu);
  }
  return 0;
}
