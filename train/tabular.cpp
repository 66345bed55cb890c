#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/nn/csv.h>
#include <ember/train/tabular.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace ember::train {

using models::TaskType;

TargetSpec parse_target(const std::string& text) {
  const size_t colon = text.rfind(':');
  TargetSpec spec{text.substr(0, colon), TaskType::regression};
  if (colon != std::string::npos) {
    const std::string kind = text.substr(colon + 1);
    if (kind == "binary") {
      spec.type = TaskType::binary;
    } else if (kind == "classes") {
      spec.type = TaskType::multiclass;
    } else if (kind != "regression") {
      throw Error("target \"" + text + "\": unknown kind \"" + kind +
                  "\" (regression, binary or classes)");
    }
  }
  if (spec.column.empty()) throw Error("target \"" + text + "\": no column name");
  return spec;
}

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// The number of classes of a label column, after checking every label is an integer in
// range: 0 or 1 for binary, >= 0 otherwise; and that at least two classes occur.
int64_t count_classes(const data::CsvTable& csv, const std::string& path, size_t column,
                      TaskType type) {
  const std::string& name = csv.columns[column];
  const int64_t rows = csv.values.size(0), columns = csv.values.size(1);
  const float* values = csv.values.data();
  std::set<int64_t> seen;
  for (int64_t row = 0; row < rows; ++row) {
    const float label = values[row * columns + static_cast<int64_t>(column)];
    const bool valid = std::isfinite(label) && label == std::floor(label) && label >= 0 &&
                       (type != TaskType::binary || label <= 1);
    if (!valid) {
      throw Error(path + ":" + std::to_string(csv.lines[row]) + ": column '" + name +
                  "': class label " + std::to_string(label) + " is not " +
                  (type == TaskType::binary ? "0 or 1" : "an integer >= 0"));
    }
    seen.insert(static_cast<int64_t>(label));
  }
  if (seen.size() < 2) {
    throw Error(path + ": column '" + name + "' holds a single class (" +
                (seen.empty() ? std::string("no rows") : std::to_string(*seen.begin())) +
                "); a classification target needs at least two");
  }
  return type == TaskType::binary ? 2 : *seen.rbegin() + 1;
}

// Every value the model will read or learn must be a number: NaN or infinity in a feature or
// target would only resurface as a NaN loss, far from its cause.
void check_finite(const data::CsvTable& csv, const std::string& path,
                  const std::vector<size_t>& columns) {
  const int64_t rows = csv.values.size(0), width = csv.values.size(1);
  const float* values = csv.values.data();
  for (int64_t row = 0; row < rows; ++row) {
    for (size_t column : columns) {
      const float value = values[row * width + static_cast<int64_t>(column)];
      if (!std::isfinite(value)) {
        throw Error(path + ":" + std::to_string(csv.lines[row]) + ": column '" +
                    csv.columns[column] + "': " + (std::isnan(value) ? "NaN" : "infinity") +
                    " (ember trains on finite values only)");
      }
    }
  }
}

}  // namespace

Table load_table(const std::string& path, const std::vector<TargetSpec>& targets,
                 const std::vector<std::string>& features, int64_t skip_rows, char comment) {
  if (targets.empty()) throw Error("load_table: " + path + ": no target columns given");
  const data::CsvTable csv =
      data::read_csv(path, {.has_header = true, .skip_rows = skip_rows, .comment = comment});
  const auto column_of = [&](const std::string& name) {
    const auto found = std::find(csv.columns.begin(), csv.columns.end(), name);
    if (found == csv.columns.end()) {
      throw Error(path + ": no column '" + name + "' (columns: " + join(csv.columns) + ")");
    }
    return static_cast<size_t>(found - csv.columns.begin());
  };

  Table table{path, {}, {}, {}, {}};
  std::vector<size_t> used;
  const auto use = [&](const std::string& name) {
    const size_t column = column_of(name);
    if (std::find(used.begin(), used.end(), column) != used.end()) {
      throw Error(path + ": column '" + name + "' is used twice");
    }
    used.push_back(column);
    return column;
  };
  for (const TargetSpec& spec : targets) {
    const size_t column = use(spec.column);
    models::Task task{spec.column, spec.type, 0};
    if (spec.type == TaskType::multiclass) {
      task.classes = count_classes(csv, path, column, spec.type);
    } else if (spec.type == TaskType::binary) {
      count_classes(csv, path, column, spec.type);
    }
    table.tasks.push_back(task);
    table.targets.push_back(
        csv.values.index_select(1, tensor({static_cast<float>(column)})).reshape({-1}));
  }
  std::vector<float> feature_columns;
  if (features.empty()) {
    for (size_t column = 0; column < csv.columns.size(); ++column) {
      if (std::find(used.begin(), used.end(), column) != used.end()) continue;
      feature_columns.push_back(static_cast<float>(column));
      table.feature_names.push_back(csv.columns[column]);
    }
    for (float column : feature_columns) used.push_back(static_cast<size_t>(column));
  } else {
    for (const std::string& name : features) {
      feature_columns.push_back(static_cast<float>(use(name)));
      table.feature_names.push_back(name);
    }
  }
  if (feature_columns.empty()) throw Error(path + ": no feature columns left besides the targets");
  check_finite(csv, path, used);
  const auto count = static_cast<int64_t>(feature_columns.size());
  table.x = csv.values.index_select(1, tensor(feature_columns, {count}));
  return table;
}

}  // namespace ember::train
