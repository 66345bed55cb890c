// MultiDigits: the MultiMNIST recipe (Sabour et al. 2017; as a multi-task benchmark, Sener &
// Koltun 2018) at the scale of scikit-learn's 8x8 digits. Two digits side by side make one
// 8x16 image (128 features); task "left" reads the left digit and task "right" the right
// one, 10 classes each. A hard-sharing MultiTaskNet is trained under each of the ten
// balancing methods of models/multitask/balancer.h and compared with single-task networks.
//
// Data: data/digits.csv.gz, the 1,797 images of the UCI optical digits (pixels 0..16). The
// IMAGES are split first, stratified by digit and with a fixed seed, into 60% training, 20%
// validation and 20% test images; pairs of two different images are then drawn at random
// within each split only, so no test image is seen in training. Pixels are divided by 16.
// The data are the same for every seed; a seed sets the initial weights and the shuffling.
//
// Metric: test accuracy per task, and Δm% (Maninis et al. 2019, "Attentive Single-Tasking
// of Multiple Tasks", CVPR; as LibMTL reports it): the mean over the T tasks of the relative
// change against the single-task baseline,
//   Δm = (1/T) Σ_t (−1)^{l_t} (M_m,t − M_b,t) / M_b,t × 100,
// with l_t = 0 for a metric where higher is better (accuracy). M_b,t is the mean over seeds
// of the single-task accuracy; Δm is computed per seed and reported as mean ± sample std.
//
//   multidigits                 the full run (5 seeds; a few minutes)
//   multidigits --quick         a smoke test (2 seeds, 2 epochs, few pairs; seconds)
//   multidigits --data FILE     the digits CSV (default data/digits.csv.gz, from the repo root)
//   multidigits --csv FILE      also writes every run's accuracies, Δm and ms/epoch to FILE

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <ember/ember.h>
#include <ember/models/multitask/balancer.h>

using namespace ember;

namespace {

struct Settings {
  int64_t train_pairs = 4000;
  int64_t validation_pairs = 1000;
  int64_t test_pairs = 1000;
  std::vector<int64_t> hidden = {128, 64};
  int64_t batch = 64;
  int64_t epochs = 50;
  int64_t patience = 5;  // early stopping on the validation loss, best weights restored
  double lr = 1e-3;
  int seeds = 5;
  uint64_t data_seed = 2024;  // the image split and the pairs
};

// One split of paired images: x [N, 128], the left and right digits [N] each.
struct Pairs {
  Tensor x, left, right;
};

// `count` pairs of two different images of `pixels` [n, 64] (values 0..16) with labels
// `digits` [n], drawn uniformly with `generator`. Pair k is the 8x16 image whose row r is
// row r of the left digit followed by row r of the right one, scaled to [0, 1].
Pairs make_pairs(const Tensor& pixels, const Tensor& digits, int64_t count,
                 std::mt19937_64& generator) {
  const int64_t n = pixels.size(0);
  const std::vector<float> p = pixels.to_vector(), d = digits.to_vector();
  std::uniform_int_distribution<int64_t> pick(0, n - 1);
  std::vector<float> x(size_t(count) * 128), left(static_cast<size_t>(count)),
      right(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) {
    const int64_t a = pick(generator);
    int64_t b = pick(generator);
    while (b == a) b = pick(generator);
    for (int64_t r = 0; r < 8; ++r) {
      for (int64_t c = 0; c < 8; ++c) {
        x[size_t(k * 128 + r * 16 + c)] = p[size_t(a * 64 + r * 8 + c)] / 16.f;
        x[size_t(k * 128 + r * 16 + 8 + c)] = p[size_t(b * 64 + r * 8 + c)] / 16.f;
      }
    }
    left[size_t(k)] = d[size_t(a)];
    right[size_t(k)] = d[size_t(b)];
  }
  return {tensor(x, {count, 128}), tensor(left, {count}), tensor(right, {count})};
}

struct Splits {
  Pairs train, validation, test;
};

// The file comment's split: images 60/20/20 stratified by digit, then pairs within each.
Splits load(const std::string& path, const Settings& s) {
  const data::CsvTable table = data::read_csv(path);
  int64_t digit_column = -1;
  for (size_t c = 0; c < table.columns.size(); ++c) {
    if (table.columns[c] == "digit") digit_column = int64_t(c);
  }
  if (digit_column != 64) throw Error("multidigits: " + path + " has no column 'digit' after p63");
  const Tensor pixels = table.values.narrow(1, 0, 64);
  const Tensor digits = table.values.narrow(1, digit_column, 1).squeeze(1);
  const auto [rest, test] = data::train_test_split({pixels, digits}, 0.2f, s.data_seed, digits);
  const auto [train, validation] =
      data::train_test_split(rest, 0.25f, s.data_seed + 1, rest[1]);  // 20% of all images
  std::printf("images: %lld training, %lld validation, %lld test (stratified by digit)\n",
              static_cast<long long>(train[0].size(0)),
              static_cast<long long>(validation[0].size(0)),
              static_cast<long long>(test[0].size(0)));
  std::mt19937_64 generator(s.data_seed);
  Splits splits;
  splits.train = make_pairs(train[0], train[1], s.train_pairs, generator);
  splits.validation = make_pairs(validation[0], validation[1], s.validation_pairs, generator);
  splits.test = make_pairs(test[0], test[1], s.test_pairs, generator);
  return splits;
}

// The predicted class of each row of logits [N, C], as labels [N].
Tensor argmax_rows(const Tensor& logits) {
  const int64_t n = logits.size(0), classes = logits.size(1);
  const std::vector<float> values = logits.to_vector();
  std::vector<float> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c) {
      if (values[size_t(i * classes + c)] > values[size_t(i * classes + best)]) best = c;
    }
    labels[size_t(i)] = float(best);
  }
  return tensor(labels, {n});
}

// What one fit ended with: test accuracy per task (in the order of the tasks trained).
struct Run {
  std::vector<double> accuracy;
  double ms_per_epoch = 0;  // mean over the epochs run, the validation pass included
  int64_t epochs = 0;
};

// Trains a MultiTaskNet for `tasks` (a subset of left, right, given by their targets) with
// the balancing method `method` and returns its test accuracies. The network's initial
// weights and the shuffling follow `seed`.
Run fit(const std::string& method, const std::vector<models::Task>& tasks,
        const std::vector<Tensor Pairs::*>& targets, const Splits& data, const Settings& s,
        uint64_t seed) {
  manual_seed(seed);
  models::MultiTaskNet net({.inputs = 128, .hidden = s.hidden, .tasks = tasks});
  const auto balancer = models::mtl::make_balancer(method, net.shared_parameters(), tasks);
  optim::Adam adam(net.parameters(), {.lr = s.lr});
  if (!balancer->parameters().empty()) adam.add_param_group({balancer->parameters()});
  train::Trainer trainer(net, tasks, adam,
                         {.epochs = s.epochs,
                          .batch_size = s.batch,
                          .patience = s.patience,
                          .monitor = "val/loss",
                          .restore_best = true,
                          .stop_on_interrupt = false});
  trainer.set_balancer(balancer.get());
  const auto dataset = [&](const Pairs& pairs) {
    std::vector<Tensor> columns = {pairs.x};
    for (Tensor Pairs::*target : targets) columns.push_back(pairs.*target);
    return data::TensorDataset(columns);
  };
  const data::TensorDataset train_set = dataset(data.train);
  const data::TensorDataset validation_set = dataset(data.validation);
  const train::History history = trainer.fit(train_set, &validation_set);

  Run run;
  for (const train::EpochResult& epoch : history.epochs) run.ms_per_epoch += 1e3 * epoch.seconds;
  run.epochs = int64_t(history.epochs.size());
  run.ms_per_epoch /= double(run.epochs);
  const std::vector<Tensor> outputs = trainer.predict(data.test.x);
  for (size_t t = 0; t < targets.size(); ++t) {
    run.accuracy.push_back(train::accuracy(data.test.*targets[t], argmax_rows(outputs[t])));
  }
  return run;
}

struct Summary {
  double mean = 0, std = 0;
};

Summary summarise(const std::vector<double>& values) {
  Summary s;
  for (double v : values) s.mean += v;
  s.mean /= double(values.size());
  for (double v : values) s.std += (v - s.mean) * (v - s.mean);
  s.std = values.size() > 1 ? std::sqrt(s.std / double(values.size() - 1)) : 0.0;
  return s;
}

// Δm% of accuracies (left, right) against the single-task means `baseline` (file comment).
double delta_m(const std::vector<double>& accuracy, const std::vector<double>& baseline) {
  double sum = 0;
  for (size_t t = 0; t < accuracy.size(); ++t) {
    sum += (accuracy[t] - baseline[t]) / baseline[t];
  }
  return 100.0 * sum / double(accuracy.size());
}

// One table row: accuracies in %, Δm% and ms/epoch, each mean ± std over the seeds.
void print_row(const std::string& name, const std::vector<double>& left,
               const std::vector<double>& right, const std::vector<double>& delta,
               const std::vector<double>& ms) {
  const Summary l = summarise(left), r = summarise(right), d = summarise(delta), t = summarise(ms);
  std::printf("%-12s  %6.2f ± %-5.2f  %6.2f ± %-5.2f  %+6.2f ± %-5.2f  %7.1f ± %-5.1f\n",
              name.c_str(), 100 * l.mean, 100 * l.std, 100 * r.mean, 100 * r.std, d.mean, d.std,
              t.mean, t.std);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  std::string data_path = "data/digits.csv.gz", csv_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      s.train_pairs = 400, s.validation_pairs = 200, s.test_pairs = 200;
      s.epochs = 2, s.seeds = 2;
    } else if (std::strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
      data_path = argv[++i];
    } else if (std::strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
      csv_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--data FILE] [--csv FILE]\n", argv[0]);
      return 2;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  std::printf(
      "MultiDigits: two 8x8 digits side by side (8x16 = 128 features), tasks left and "
      "right (10 classes each)\n");
  Splits data;
  try {
    data = load(data_path, s);
  } catch (const Error& e) {  // a missing or malformed file: say so rather than abort
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  std::printf("pairs: %lld training, %lld validation, %lld test (drawn within each split)\n",
              static_cast<long long>(s.train_pairs), static_cast<long long>(s.validation_pairs),
              static_cast<long long>(s.test_pairs));
  std::printf(
      "MultiTaskNet 128 -> [%lld, %lld] ReLU -> one 10-way head per task; Adam lr %g, "
      "batch %lld, at most %lld epochs,\nearly stopping on the validation loss "
      "(patience %lld, best weights restored); %d seeds\n\n",
      static_cast<long long>(s.hidden[0]), static_cast<long long>(s.hidden[1]), s.lr,
      static_cast<long long>(s.batch), static_cast<long long>(s.epochs),
      static_cast<long long>(s.patience), s.seeds);

  std::ofstream csv;
  if (!csv_path.empty()) {
    csv.open(csv_path);
    csv << "method,seed,left_accuracy,right_accuracy,delta_m,ms_per_epoch,epochs\n";
  }
  const models::Task left = models::multiclass("left", 10), right = models::multiclass("right", 10);

  // Single-task baselines: one network per task, the same trunk and seed, equal weighting.
  std::vector<Run> single_left, single_right;
  for (int seed = 0; seed < s.seeds; ++seed) {
    single_left.push_back(fit("equal", {left}, {&Pairs::left}, data, s, uint64_t(seed)));
    single_right.push_back(fit("equal", {right}, {&Pairs::right}, data, s, uint64_t(seed)));
  }
  std::vector<double> baseline = {0, 0};
  for (int seed = 0; seed < s.seeds; ++seed) {
    baseline[0] += single_left[size_t(seed)].accuracy[0] / s.seeds;
    baseline[1] += single_right[size_t(seed)].accuracy[0] / s.seeds;
  }

  // (Written out: printf pads by bytes, and "Δ" takes two.)
  std::printf("method        left acc %%      right acc %%     Δm %%            ms/epoch\n");
  {
    std::vector<double> l, r, d, ms;
    for (int seed = 0; seed < s.seeds; ++seed) {
      const Run& a = single_left[size_t(seed)];
      const Run& b = single_right[size_t(seed)];
      l.push_back(a.accuracy[0]);
      r.push_back(b.accuracy[0]);
      d.push_back(delta_m({a.accuracy[0], b.accuracy[0]}, baseline));
      ms.push_back((a.ms_per_epoch + b.ms_per_epoch) / 2);
      if (csv.is_open()) {
        csv << "single_task," << seed << "," << a.accuracy[0] << "," << b.accuracy[0] << ","
            << d.back() << "," << ms.back() << "," << (a.epochs + b.epochs) / 2 << "\n";
      }
    }
    print_row("single-task", l, r, d, ms);
  }
  for (const std::string& method : models::mtl::balancer_names()) {
    std::vector<double> l, r, d, ms;
    for (int seed = 0; seed < s.seeds; ++seed) {
      const Run run =
          fit(method, {left, right}, {&Pairs::left, &Pairs::right}, data, s, uint64_t(seed));
      l.push_back(run.accuracy[0]);
      r.push_back(run.accuracy[1]);
      d.push_back(delta_m(run.accuracy, baseline));
      ms.push_back(run.ms_per_epoch);
      if (csv.is_open()) {
        csv << method << "," << seed << "," << run.accuracy[0] << "," << run.accuracy[1] << ","
            << d.back() << "," << run.ms_per_epoch << "," << run.epochs << "\n";
      }
    }
    print_row(method, l, r, d, ms);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "\n(test accuracy and Δm%% against the single-task means: mean ± sample std over "
      "%d seeds;\nsingle-task ms/epoch is per network, and two are needed; %.1f s)\n",
      s.seeds, seconds);
  return 0;
}
