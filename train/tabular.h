#pragma once
// Tabular data for supervised learning: a CSV file, some of whose columns are targets.

#include <string>
#include <vector>

#include <ember/core/tensor.h>
#include <ember/models/task.h>

namespace ember::train {

/// A target column and the kind of task it is: "price", "price:regression", "spam:binary"
/// or "digit:classes".
struct TargetSpec {
  std::string column;
  models::TaskType type = models::TaskType::regression;
};

/// Reads "COLUMN[:regression|binary|classes]" (the kind defaults to regression). Throws
/// Error for an empty column name or an unknown kind.
TargetSpec parse_target(const std::string& text);

/// Features and targets read from one file.
struct Table {
  std::string path;
  std::vector<std::string> feature_names;
  Tensor x;                         // [N, F]
  std::vector<models::Task> tasks;  // one per target, named after its column
  std::vector<Tensor> targets;      // one [N] per task
};

/// Reads a CSV file with a header (see data::read_csv; gzip is detected) and splits its
/// columns into targets and features: `features` if given, else every column that is not a
/// target. Class labels must be integers: 0 or 1 for a binary target, 0 to C - 1 for a
/// `classes` target, whose C is the largest label plus one. Throws Error naming the file,
/// the line and the column for a non-integer or negative label; naming the file and the
/// column for a missing column, a column used twice, a target with a single class, or no
/// feature left; and whatever read_csv throws. `skip_rows` lines before the header are
/// skipped (titles), and so is every line starting with `comment` (0: none).
Table load_table(const std::string& path, const std::vector<TargetSpec>& targets,
                 const std::vector<std::string>& features = {}, int64_t skip_rows = 0,
                 char comment = '#');

}  // namespace ember::train
