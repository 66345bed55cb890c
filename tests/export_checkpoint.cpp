// Writes an ember-initialised seed MultiTaskModel (Module::save) and, beside it, an input
// batch with ember's predictions, for tests/reference/check_ember_checkpoint.py to verify
// in PyTorch.  Usage: export_checkpoint MODEL_PATH IO_PATH

#include <cstdio>

#include <ember/ember.h>

using namespace ember;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL_PATH IO_PATH\n", argv[0]);
    return 2;
  }
  manual_seed(7);
  models::MultiTaskModel model;
  model.save(argv[1]);
  const Tensor x = randn({6, 10});
  const std::vector<Tensor> outputs = model.forward(x);
  save_safetensors(argv[2],
                   {{"x", x}, {"out0", outputs[0]}, {"out1", outputs[1]}, {"out2", outputs[2]}});
  return 0;
}
