// Trains the seed MultiTaskModel on three learnable synthetic tasks that share the same
// inputs, printing the loss as it falls and, at the end, each task's error on held-out data
// next to the error of always predicting the training mean.

#include <cstdio>
#include <iterator>

#include <ember/ember.h>

using namespace ember;

namespace {

// Column j of x as [N, 1].
Tensor column(const Tensor& x, int64_t j) { return narrow(x, 1, j, 1); }

// Three tasks over the same 10 features: a linear one, a piecewise-linear one and a smooth
// nonlinear one. All are functions the trunk can share features for. `task_formulas` says in
// words what `targets_for` computes.
constexpr const char* task_formulas[] = {"x0 + 2*x1 - x2            (linear)",
                                         "relu(x3) - 0.5*relu(x4)   (piecewise linear)",
                                         "tanh(x5 + x6)             (smooth, nonlinear)"};
std::vector<Tensor> targets_for(const Tensor& x) {
  return {column(x, 0) + 2.f * column(x, 1) - column(x, 2),
          relu(column(x, 3)) - 0.5f * relu(column(x, 4)), tanh(column(x, 5) + column(x, 6))};
}

}  // namespace

int main() {
  manual_seed(0);
  const Tensor x_train = randn({512, 10}), x_test = randn({256, 10});
  const std::vector<Tensor> y_train = targets_for(x_train), y_test = targets_for(x_test);

  models::MultiTaskModel model;
  optim::SGD optimizer(model.parameters(), {.lr = 0.05, .momentum = 0.9});
  std::printf("\n== Training the seed MultiTaskModel (%lld parameters) on 3 synthetic tasks\n",
              static_cast<long long>(model.num_parameters()));
  std::printf("inputs: x = randn(512, 10) to train on and randn(256, 10) held out, seed 0\n");
  std::printf("targets, one per task head (xj is feature j of a row of x):\n");
  for (size_t task = 0; task < std::size(task_formulas); ++task) {
    std::printf("  task %zu: y = %s\n", task + 1, task_formulas[task]);
  }
  std::printf(
      "training loss: summed MSE = MSE(task 1) + MSE(task 2) + MSE(task 3) on the\n"
      "training set; full-batch SGD, lr 0.05, momentum 0.9\n\n");
  for (int step = 0; step <= 400; ++step) {
    optimizer.zero_grad();
    const std::vector<Tensor> outputs = model.forward(x_train);
    Tensor loss = nn::mse_loss(outputs[0], y_train[0]) + nn::mse_loss(outputs[1], y_train[1]) +
                  nn::mse_loss(outputs[2], y_train[2]);
    loss.backward();
    optimizer.step();
    if (step % 50 == 0) std::printf("step %3d  summed MSE %.5f\n", step, loss.item());
  }

  NoGradGuard no_grad;
  const std::vector<Tensor> predictions = model.forward(x_test);
  std::printf(
      "\n== Held-out error per task: the MSE of the model's predictions on the 256\n"
      "held-out rows; baseline = the MSE of always predicting the task's training mean\n");
  for (size_t task = 0; task < predictions.size(); ++task) {
    const float error = nn::mse_loss(predictions[task], y_test[task]).item();
    const float baseline =
        nn::mse_loss(expand(mean(y_train[task]), y_test[task].shape()), y_test[task]).item();
    std::printf("task %zu  MSE %.5f  baseline %.5f\n", task + 1, error, baseline);
  }
}
