#include <ember/core/error.h>
#include <ember/nn/containers.h>

namespace ember::nn {

namespace {
Layer& at_index(const std::vector<Layer*>& layers, size_t index, const char* container) {
  if (index >= layers.size()) {
    throw Error(std::string(container) + ": index " + std::to_string(index) +
                " is out of range for " + std::to_string(layers.size()) + " layers");
  }
  return *layers[index];
}
}  // namespace

Layer& Sequential::operator[](size_t index) const { return at_index(layers_, index, "Sequential"); }

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (Layer* layer : layers_) h = layer->forward(h);
  return h;
}

Layer& ModuleList::operator[](size_t index) const { return at_index(layers_, index, "ModuleList"); }

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
