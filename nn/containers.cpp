#include <ember/error.h>
#include <ember/nn/containers.h>

namespace ember::nn {

void throw_out_of_range(const std::string& container, size_t index, size_t size) {
  throw Error(container + ": index " + std::to_string(index) + " is out of range for " +
              std::to_string(size) + " layers");
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (Layer& layer : *this) h = layer.forward(h);
  return h;
}

bool ModuleDict::contains(const std::string& name) const {
  for (const auto& entry : layers_) {
    if (entry.first == name) return true;
  }
  return false;
}

Layer& ModuleDict::operator[](const std::string& name) const {
  std::string known;
  for (const auto& [key, layer] : layers_) {
    if (key == name) return *layer;
    known += (known.empty() ? "" : ", ") + key;
  }
  throw Error("ModuleDict: no layer named \"" + name + "\" (has: " + known + ")");
}

}  // namespace ember::nn
