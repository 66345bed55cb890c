#include "cases.h"

#include <stdexcept>

namespace scoreboard {

nlohmann::json Case::to_json() const {
  return {{"model", model},   {"mode", mode},         {"batch", batch},    {"inputs", inputs},
          {"hidden", hidden}, {"features", features}, {"members", members}};
}

std::string Case::size_label() const {
  const std::string widths = std::to_string(inputs) + "-" + std::to_string(hidden) + "-" +
                             std::to_string(model == "multitask" ? features : 1);
  return "(" + std::to_string(batch) + "; " + widths + ")";
}

const Array& find(const Arrays& arrays, const std::string& name) {
  for (const auto& [key, array] : arrays)
    if (key == name) return array;
  throw std::runtime_error("no array named '" + name + "'");
}

}  // namespace scoreboard
