#pragma once
// The trainer tests' model and data (test_trainer.cpp, test_faults.cpp): two tasks on 4
// inputs, with dropout so that resuming must also restore the random stream.

#include <ember/ember.h>
#include <ember/train/trainer.h>

#include <cstdint>
#include <vector>

namespace two_task {

struct Net : ember::nn::Module {
  ember::nn::Sequential& layers = register_module(
      "layers", ember::nn::Sequential(ember::nn::Linear(4, 16), ember::nn::ReLU(),
                                      ember::nn::Dropout(0.3f), ember::nn::Linear(16, 4)));
  std::vector<ember::Tensor> forward(const ember::Tensor& x) {
    const ember::Tensor h = layers(x);  // [B, 4]: a regression output and a 3-way logit row
    return {h.index_select(1, ember::tensor({0.f})),
            h.index_select(1, ember::tensor({1.f, 2.f, 3.f}))};
  }
};

// Two tasks on 4 inputs: a regression target and a 3-class label.
inline ember::data::TensorDataset two_task_data(int64_t rows) {
  const ember::Tensor x = ember::randn({rows, 4});
  const ember::Tensor y = ember::matmul(x, ember::tensor({1.f, -2.f, 0.5f, 0.f}));
  std::vector<float> labels;
  for (float v : y.to_vector()) labels.push_back(v < -1.f ? 0.f : (v < 1.f ? 1.f : 2.f));
  return ember::data::TensorDataset({x, y, ember::tensor(labels, {rows})});
}

// Records every step's loss.
struct StepLog : ember::train::Callback {
  std::vector<double> losses;
  void on_step_end(const ember::train::StepResult& step) override { losses.push_back(step.loss); }
};

}  // namespace two_task
