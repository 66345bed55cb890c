#pragma once
// A whole supervised run on a CSV file, as the `ember` command does it: read, split, scale,
// build a multi-task network, train with early stopping, evaluate on the held-out split in
// the targets' own units, and write a run folder. Also loading the saved model back to
// predict and evaluate.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ember/core/tensor.h>
#include <ember/models/multitask_net.h>
#include <ember/nn/scaler.h>
#include <ember/train/tabular.h>
#include <ember/train/trainer.h>

namespace ember::train {

struct RunOptions {
  // data
  std::string data_path{};
  std::vector<TargetSpec> targets{};
  std::vector<std::string> features{};  // empty: every column that is not a target
  int64_t skip_rows = 0;                // title lines before the header
  float test_fraction = 0.2f;           // held out for the final metrics
  float validation_fraction = 0.1f;     // of the rest, for early stopping
  bool scale = true;                    // standardise inputs and regression targets
  // model
  std::vector<int64_t> hidden = {64, 64};
  std::string activation = "relu";
  float dropout = 0.f;
  // optimisation
  std::string optimizer = "adam";  // sgd, adam or adamw
  double lr = 1e-3;
  double weight_decay = 0.0;
  int64_t epochs = 100;
  int64_t batch_size = 32;
  int64_t patience = 10;  // epochs without a better validation loss (0: never stop early)
  uint64_t seed = 0;
  int threads = 0;  // for large matrix products (0: OpenMP's default)
  /// Continue from the checkpoint in out_dir when there is one (same data and options).
  bool resume = false;
  // output
  std::string out_dir{};  // the run folder (created)
  bool progress = true;
};

/// Metric name -> value, per task name.
using TaskMetrics = std::map<std::string, std::map<std::string, double>>;

struct RunReport {
  History history;           // of this call (after a resume, the epochs it added)
  int64_t epochs = 0;        // epochs trained in all, resumed ones included
  TaskMetrics test_metrics;  // on the held-out split, in the targets' units
  int64_t train_rows = 0, validation_rows = 0, test_rows = 0;
  double seconds = 0;
  std::string metrics_json{};  // what metrics.json holds
};

/// Runs everything above and writes `out_dir`: model.safetensors (weights, scalers and the
/// configuration, see save_model), config.json, metrics.json, metrics.csv, tensorboard/ and
/// checkpoint/. manual_seed(seed) first, so the split, the initialisation, the shuffling and
/// dropout all follow from `seed`. The split is stratified on the first classification
/// target, if any. With `resume`, a run stopped early (Ctrl-C, a crash) continues from its
/// last checkpoint and ends as the uninterrupted run would have; metrics.csv keeps its rows.
/// Throws Error naming what is wrong (file, line, column, option).
RunReport train_run(const RunOptions& options);

/// A trained network with what it needs to read raw inputs and report in raw units.
struct SavedModel {
  models::MultiTaskNet net;
  std::vector<std::string> feature_names;
  data::StandardScaler input_scaler;                 // unfitted when inputs were not scaled
  std::vector<data::StandardScaler> target_scalers;  // per task; unfitted when not scaled
};

/// Writes the network's weights, the scalers ("scaler.input.mean", "scaler.<task>.scale",
/// ...) and the configuration (metadata "ember_model", JSON) to one safetensors file.
void save_model(const std::string& path, const SavedModel& model);
/// Reads a file written by save_model. Throws Error naming the path when it is not one.
SavedModel load_model(const std::string& path);

/// Per task, predictions for raw inputs x [N, F] in the targets' units: regression values
/// [N]; for a binary task the probability of class 1 [N]; for C classes probabilities
/// [N, C].
std::vector<Tensor> predict(SavedModel& model, const Tensor& x);

/// The metrics of one task's predictions (as `predict` gives them) against targets [N]:
/// regression: rmse, mae, r2; binary: accuracy, f1, roc_auc, log_loss, brier, ece;
/// classes: accuracy, f1_macro, f1_micro, log_loss, brier, ece.
std::map<std::string, double> task_metrics(const models::Task& task, const Tensor& target,
                                           const Tensor& prediction);

/// The metrics as JSON text: {"<task>": {"<metric>": value, ...}, ...}.
std::string to_json(const TaskMetrics& metrics);

}  // namespace ember::train
