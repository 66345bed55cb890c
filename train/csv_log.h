#pragma once
// CsvLogger: one row of metrics per epoch in a CSV file (a run's metrics.csv).

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace ember::train {

/// Writes per-epoch metrics as CSV: a header line, then one line per log() call.
///
///   CsvLogger metrics("runs/exp1/metrics.csv");
///   metrics.log(0, {{"train_loss", 0.71}, {"val_loss", 0.74}});
///   metrics.log(1, {{"train_loss", 0.52}});  // val_loss left empty
///
/// gives
///
///   epoch,train_loss,val_loss
///   0,0.71,0.74
///   1,0.52,
///
/// The first row fixes the columns: "epoch", then its metrics in the order given. Values are
/// written in the shortest form that reads back as the same double (std::to_chars), so a
/// float32 or float64 metric round-trips exactly; NaN and infinity are written "nan", "inf"
/// and "-inf". Every row is flushed as soon as it is written. There is no quoting, so
/// `ember::data::read_csv` reads the file back whenever no value is missing.
class CsvLogger {
 public:
  /// Creates the parent directories when missing and creates (or truncates) the file.
  /// Throws Error naming the path when either fails.
  explicit CsvLogger(const std::string& path);
  /// Continues a file that a run resumed after epoch `last_epoch` wrote: keeps its header
  /// and its rows up to that epoch (dropping any written after it), then appends. A missing
  /// or empty file starts afresh. Throws Error naming the path when it cannot be read or
  /// rewritten.
  CsvLogger(const std::string& path, int64_t last_epoch);

  /// Writes the row `epoch, metrics...` (the header first, on the first call), then flushes.
  /// A column of the header that `metrics` lacks is written empty.
  /// Throws Error, writing nothing, for a metric name that is empty, is "epoch", repeats, or
  /// contains a comma, a double quote or a line break, and, after the first row, for a name
  /// that is not a column. Throws Error naming the path when the write fails.
  void log(int64_t epoch, const std::vector<std::pair<std::string, double>>& metrics);

  /// The header's column names, "epoch" first; empty before the first row.
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  std::string path_;
  std::ofstream file_;
  std::vector<std::string> columns_;
};

}  // namespace ember::train
