// The seed's two demos: build each model, feed it x = randn(10, 10), print what comes out.
// The models themselves are in models/seed.h, translated line for line from the Python.

#include <iostream>

#include <ember/ember.h>

using namespace ember;

int main() {
  manual_seed(0);

  // Multi-task learning: one shared trunk, one head per task.
  models::MultiTaskModel multi_task_model;
  Tensor x = randn({10, 10});
  std::vector<Tensor> outputs = multi_task_model.forward(x);
  std::cout << multi_task_model << "\n";
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::cout << "Task " << i + 1 << " output:\n" << outputs[i] << "\n";
  }

  // Ensemble learning: three members, predictions averaged.
  models::EnsembleModel ensemble_model;
  Tensor output = ensemble_model.forward(x);
  std::cout << "\n" << ensemble_model << "\nEnsemble output:\n" << output << "\n";
}
