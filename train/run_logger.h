#pragma once
// RunLogger: writes each epoch's metrics to a run folder, as metrics.csv and as TensorBoard
// scalars.

#include <string>

#include <ember/train/csv_log.h>
#include <ember/train/tensorboard.h>
#include <ember/train/trainer.h>

namespace ember::train {

/// After every epoch, appends a row to `<run_dir>/metrics.csv` (columns "epoch" and every
/// metric of EpochResult, plus "seconds") and writes the same values as TensorBoard scalars
/// (tag = metric name, step = epoch) to an event file in `<run_dir>/tensorboard`. Epochs
/// count from 1 in both. Throws Error naming the path when a file cannot be written.
class RunLogger : public Callback {
 public:
  explicit RunLogger(const std::string& run_dir);
  /// Continues the logs of a run resumed after epoch `last_epoch` (counting from 1):
  /// metrics.csv keeps its rows up to it (see CsvLogger), TensorBoard gets a new event file.
  RunLogger(const std::string& run_dir, int64_t last_epoch);
  void on_epoch_end(const EpochResult& epoch) override;

 private:
  CsvLogger csv_;
  EventWriter events_;
};

}  // namespace ember::train
