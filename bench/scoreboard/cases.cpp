#include "cases.h"

#include <stdexcept>

#include <ember/nn/csv.h>

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

Array digits_table() {
  const std::string path = EMBER_BENCH_SOURCE_DIR "/../data/digits.csv.gz";
  const ember::data::CsvTable table = ember::data::read_csv(path);
  const std::vector<std::string>& columns = table.columns;
  if (columns.size() != 67 || columns[64] != "digit" || columns[65] != "odd" ||
      columns[66] != "high")
    throw std::runtime_error(path + ": expected 64 pixel columns, then digit, odd and high");
  return Array{{table.values.size(0), table.values.size(1)}, table.values.to_vector()};
}

}  // namespace scoreboard
