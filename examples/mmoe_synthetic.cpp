// Reproduction of MMoE's synthetic benchmark (Ma et al. 2018, "Modeling Task Relationships in
// Multi-task Learning with Multi-gate Mixture-of-Experts", KDD, §4.2-4.3): two regression
// tasks whose relatedness is set by the cosine p between their weight vectors, learned by a
// shared-bottom network (MultiTaskNet), MMoE and PLE. The paper's finding: the lower the
// correlation, the worse shared-bottom does, and the larger MMoE's advantage over it.
//
// Data (§4.2): u1, u2 orthogonal unit vectors in R^d; w1 = c·u1, w2 = c(p·u1 + sqrt(1-p²)·u2);
// x ~ N(0, I_d); y_i = w_iᵀx + Σ_{k=1..m} sin(α_k w_iᵀx + β_k) + ε_i, ε_i ~ N(0, 0.01).
// Here d = 100, c = 1, m = 10 with α_k, β_k ~ N(0, 1) drawn once per data set, and 0.01 read
// as the noise variance. The paper (§4.3) trains 8 experts of 16 units against a shared
// bottom of similar size, with Adam, over 200 runs per setting; this program scales that down
// to fit a few minutes on one core (sizes printed at the start): fewer samples, a fixed
// learning rate instead of the paper's search over {1e-4, 1e-3, 1e-2}, 10 seeds, and single
// Linear heads instead of the paper's 8-unit towers, for all three models alike.
//
//   mmoe_synthetic           the full run (10 seeds; a few minutes)
//   mmoe_synthetic --quick   a smoke test (2 seeds, a few epochs; seconds)
//   mmoe_synthetic --csv F   also writes every run's final test loss to F

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <ember/ember.h>

using namespace ember;

namespace {

struct Settings {
  int64_t features = 100;  // d
  int64_t sinusoids = 10;  // m
  float scale = 1.f;       // c
  int64_t train = 4000;
  int64_t test = 2000;
  int64_t batch = 64;
  int epochs = 40;
  int seeds = 10;
  double lr = 1e-3;
};

struct Data {
  Tensor x_train, x_test;
  std::vector<Tensor> y_train, y_test;  // two tasks, [N, 1] each
};

// The paper's generator (file comment), from the calling thread's generator's current state.
Data make_data(const Settings& s, float correlation) {
  // Gram-Schmidt on two Gaussian vectors: orthogonal unit vectors u1, u2.
  Tensor u1 = randn({s.features});
  u1 = u1 / std::sqrt(sum(u1 * u1).item());
  Tensor u2 = randn({s.features});
  u2 = u2 - sum(u1 * u2).item() * u1;
  u2 = u2 / std::sqrt(sum(u2 * u2).item());
  const Tensor w1 = s.scale * u1;
  const Tensor w2 = s.scale * (correlation * u1 + std::sqrt(1.f - correlation * correlation) * u2);
  const Tensor alpha = randn({s.sinusoids}), beta = randn({s.sinusoids});
  const std::vector<float> a = alpha.to_vector(), b = beta.to_vector();
  auto labels = [&](const Tensor& x, const Tensor& w) {
    // wᵀx + Σ_k sin(α_k wᵀx + β_k) + ε (ember has no sin op; the data need no gradient).
    Tensor y = matmul(x, unsqueeze(w, 1));         // [N, 1]
    const Tensor noise = 0.1f * randn(y.shape());  // standard deviation 0.1: variance 0.01
    for (int64_t i = 0; i < y.numel(); ++i) {
      const float projection = y.data()[i];
      float waves = 0.f;
      for (size_t k = 0; k < a.size(); ++k) waves += std::sin(a[k] * projection + b[k]);
      y.data()[i] = projection + waves + noise.data()[i];
    }
    return y;
  };
  Data data;
  data.x_train = randn({s.train, s.features});
  data.x_test = randn({s.test, s.features});
  for (const Tensor& w : {w1, w2}) {
    data.y_train.push_back(labels(data.x_train, w));
    data.y_test.push_back(labels(data.x_test, w));
  }
  return data;
}

using Forward = std::function<std::vector<Tensor>(const Tensor&)>;

// Adam on the summed MSE of both tasks, in shuffled mini-batches; returns the mean of the
// two tasks' test MSE after the last epoch.
double train_and_test(nn::Module& model, const Forward& forward, const Data& data,
                      const Settings& s) {
  optim::Adam optimizer(model.parameters(), {.lr = s.lr});
  model.train();
  for (int epoch = 0; epoch < s.epochs; ++epoch) {
    const Tensor order = randperm(s.train);
    for (int64_t start = 0; start < s.train; start += s.batch) {
      const Tensor rows = order.narrow(0, start, std::min(s.batch, s.train - start));
      const std::vector<Tensor> outputs = forward(index_select(data.x_train, 0, rows));
      Tensor loss = zeros({});
      for (size_t t = 0; t < outputs.size(); ++t) {
        loss = loss + nn::mse_loss(outputs[t], index_select(data.y_train[t], 0, rows));
      }
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
    }
  }
  model.eval();
  NoGradGuard no_grad;
  const std::vector<Tensor> outputs = forward(data.x_test);
  double total = 0;
  for (size_t t = 0; t < outputs.size(); ++t) {
    total += nn::mse_loss(outputs[t], data.y_test[t]).item();
  }
  return total / double(outputs.size());
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

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  std::string csv_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      s.train = 500, s.test = 500, s.epochs = 3, s.seeds = 2;
    } else if (std::strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
      csv_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--csv FILE]\n", argv[0]);
      return 2;
    }
  }
  const std::vector<models::Task> tasks = {models::regression("y1"), models::regression("y2")};
  const models::MultiTaskNetConfig shared_bottom{
      .inputs = s.features, .hidden = {140}, .tasks = tasks};
  const models::MMoEConfig mmoe{
      .inputs = s.features, .experts = 8, .expert_hidden = {16}, .tasks = tasks};
  const models::PLEConfig ple{.inputs = s.features,
                              .layers = 2,
                              .experts_per_task = 2,
                              .shared_experts = 2,
                              .expert_hidden = {16},
                              .tasks = tasks};
  std::printf("MMoE synthetic benchmark (Ma et al. 2018, §4): d = %lld, c = %g, m = %lld\n",
              static_cast<long long>(s.features), double(s.scale),
              static_cast<long long>(s.sinusoids));
  std::printf("%lld training / %lld test samples, batch %lld, %d epochs, Adam lr %g, %d seeds\n",
              static_cast<long long>(s.train), static_cast<long long>(s.test),
              static_cast<long long>(s.batch), s.epochs, s.lr, s.seeds);
  std::printf("shared-bottom: MultiTaskNet trunk 100-140 (%lld parameters)\n",
              static_cast<long long>(models::MultiTaskNet(shared_bottom).num_parameters()));
  std::printf("MMoE: 8 experts 100-16, a gate per task (%lld parameters)\n",
              static_cast<long long>(models::MMoE(mmoe).num_parameters()));
  std::printf("PLE: 2 layers, 2 experts per task + 2 shared of 16 units (%lld parameters)\n",
              static_cast<long long>(models::PLE(ple).num_parameters()));
  std::printf(
      "all three: ReLU, one Linear head per task; test loss = mean of the 2 tasks' MSE\n\n");

  std::ofstream csv;
  if (!csv_path.empty()) {
    csv.open(csv_path);
    csv << "correlation,seed,model,test_mse\n";
  }
  const auto start = std::chrono::steady_clock::now();
  std::printf("%-11s  %-17s  %-17s  %-17s  %s\n", "correlation", "shared-bottom", "MMoE", "PLE",
              "shared-bottom - MMoE");
  const char* names[] = {"shared-bottom", "MMoE", "PLE"};
  for (float correlation : {1.0f, 0.9f, 0.5f}) {
    std::vector<double> losses[3];
    for (int seed = 0; seed < s.seeds; ++seed) {
      // One data set per (correlation, seed); each model starts from the same generator state.
      manual_seed(uint64_t(1000 * seed) + uint64_t(std::lround(correlation * 10)));
      const Data data = make_data(s, correlation);
      for (int m = 0; m < 3; ++m) {
        manual_seed(uint64_t(seed) + 1);
        double loss = 0;
        if (m == 0) {
          models::MultiTaskNet model(shared_bottom);
          loss = train_and_test(model, models::forward_of(model), data, s);
        } else if (m == 1) {
          models::MMoE model(mmoe);
          loss = train_and_test(model, models::forward_of(model), data, s);
        } else {
          models::PLE model(ple);
          loss = train_and_test(model, models::forward_of(model), data, s);
        }
        losses[m].push_back(loss);
        if (csv.is_open())
          csv << correlation << "," << seed << "," << names[m] << "," << loss << "\n";
      }
    }
    const Summary sb = summarise(losses[0]), mm = summarise(losses[1]), pl = summarise(losses[2]);
    std::vector<double> gaps;
    for (int seed = 0; seed < s.seeds; ++seed) gaps.push_back(losses[0][seed] - losses[1][seed]);
    const Summary gap = summarise(gaps);
    std::printf("%-11.1f  %7.4f ± %-7.4f  %7.4f ± %-7.4f  %7.4f ± %-7.4f  %+.4f ± %.4f\n",
                double(correlation), sb.mean, sb.std, mm.mean, mm.std, pl.mean, pl.std, gap.mean,
                gap.std);
    std::fflush(stdout);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\n(mean ± sample std over %d seeds of the final test loss; %.1f s)\n", s.seeds,
              seconds);
  return 0;
}
