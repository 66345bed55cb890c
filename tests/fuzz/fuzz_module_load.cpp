// libFuzzer target: Module::load on arbitrary bytes, into a Linear(2, 3) then BatchNorm1d(3),
// strict and not. A load may succeed (the model then runs a forward pass on what it loaded) or
// throw ember::Error; anything else is a finding, as in fuzz_load_safetensors.cpp.

#include <ember/core/tensor.h>
#include <ember/error.h>
#include <ember/nn/containers.h>
#include <ember/nn/linear.h>
#include <ember/nn/normalization.h>

#include <cstdint>
#include <cstdlib>

#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = input_as_file(data, size);
  const ember::Tensor input = ember::ones({4, 2});
  for (bool strict : {true, false}) {
    // A fresh model each time, so that no input depends on what an earlier one loaded.
    ember::nn::Sequential model(ember::nn::Linear(2, 3), ember::nn::BatchNorm1d(3));
    model.eval();  // BatchNorm1d then uses its loaded statistics and updates nothing
    try {
      model.load(path, strict);
      if (model.forward(input).shape() != ember::Shape{4, 3}) std::abort();
    } catch (const ember::Error&) {
    }
  }
  return 0;
}
