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
  std::cout << "\n== Multi-task learning: the seed's MultiTaskModel (shared trunk, 3 task heads)\n"
            << "input: x = randn(10, 10), 10 samples of 10 features, drawn after manual_seed(0)\n"
            << "and the model's random initial weights; the models are untrained, so the\n"
            << "outputs show shapes and plumbing, not predictions.\n\n"
            << multi_task_model << "\n";
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::cout << "\nTask " << i + 1 << " output, one value per sample "
              << to_string(outputs[i].shape()) << ":\n"
              << outputs[i] << "\n";
  }

  // Ensemble learning: three members, predictions averaged.
  models::EnsembleModel ensemble_model;
  Tensor output = ensemble_model.forward(x);
  std::cout << "\n== Ensemble learning: the seed's EnsembleModel (3 members, outputs averaged)\n"
            << "input: the same x\n\n"
            << ensemble_model << "\n\nEnsemble output, the mean of the members' outputs "
            << to_string(output.shape()) << ":\n"
            << output << "\n";
}
