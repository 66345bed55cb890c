#include <ember/error.h>
#include <ember/nn/containers.h>

namespace ember::nn {

void throw_out_of_range(const std::string& container, size_t index, size_t size) {
  throw Error(container + ": index " + std::to_string(index) + " is out of range for " +
              std::to_string(size) + " elements");
}

void throw_wrong_type(const std::string& container, const std::string& which, const Module& actual,
                      const std::type_info& wanted) {
  throw Error(container + ": " + which + " is a " + actual.type_name() + ", not a " +
              type_name_of(wanted));
}

Tensor Sequential::forward(const Tensor& x) {
  // The first layer reads x itself: a copy of its handle would cost two atomic updates.
  const Tensor* input = &x;
  Tensor h;
  for (Layer& layer : *this) {
    h = layer.forward(*input);
    input = &h;
  }
  if (input == &x) return x;  // no layers
  return h;
}

bool ModuleDict::contains(const std::string& name) const {
  for (const auto& entry : modules_) {
    if (entry.first == name) return true;
  }
  return false;
}

Module& ModuleDict::operator[](const std::string& name) const {
  std::string known;
  for (const auto& [key, module] : modules_) {
    if (key == name) return *module;
    known += (known.empty() ? "" : ", ") + key;
  }
  throw Error("ModuleDict: no module named \"" + name + "\" (has: " + known + ")");
}

}  // namespace ember::nn
