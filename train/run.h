#pragma once
// A whole supervised run on a CSV file, as the `ember` command does it: read, split, scale,
// build a multi-task network (hard sharing, MMoE or PLE) or an ensemble of them, train with
// a balancing method or an ensemble method and early stopping, evaluate on the held-out split
// in the targets' own units, and write a run folder. Also loading the saved model back to
// predict (with the members' spread) and evaluate.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ember/core/tensor.h>
#include <ember/models/ensemble/ensemble.h>
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
  std::string model = "mlp";               // mlp (hard parameter sharing), mmoe or ple
  std::vector<int64_t> hidden = {64, 64};  // mlp: the trunk; mmoe, ple: each expert
  int64_t experts = 4;                     // mmoe: experts; ple: shared experts per layer
  std::string activation = "relu";
  float dropout = 0.f;
  /// The multi-task balancing method (models::mtl::balancer_names()) of a single network.
  std::string weighting = "equal";
  /// Ensemble members (or MC dropout's samples), and the method: voting, bagging, fusion,
  /// snapshot, gradient_boosting, deep_ensemble, mc_dropout or batch_ensemble (one
  /// models::BatchEnsembleNet of K members, trained by train::batch_ensemble_loss; mlp
  /// only); empty with 1 member: one network, and voting with more.
  int64_t ensemble = 1;
  std::string method{};
  /// deep_ensemble: train on fast-gradient-sign adversarial examples too
  /// (EnsembleOptions::adversarial, ε = 1% of each input's range).
  bool adversarial = false;
  /// Temperature scaling (Guo et al. 2017, models/ensemble/calibration.h): after training,
  /// fit one T per classification task on the validation split by NLL, and predict with
  /// softmax (binary: sigmoid) of the combined prediction's logits divided by T (for an
  /// ensemble, its soft vote's: models::soft_vote_logits). Accuracy does not change. Needs a
  /// classification target and validation rows.
  bool calibrate = false;
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
  /// Processes to spread the training over (train/process_group.h; null: this one alone).
  /// Every process calls train_run with the same options. One network, fusion, snapshot,
  /// gradient boosting and BatchEnsemble train data-parallel (Trainer::set_process_group); voting,
  /// bagging and deep-ensemble members ensemble-parallel, member k on rank k mod size
  /// (EnsembleOptions::group). Rank 0 writes the run folder (a member's metrics and
  /// checkpoint are written by the rank that trains it), shows progress and gets the whole
  /// report; elsewhere the report holds this call's training history and epochs only.
  ProcessGroup* group = nullptr;
};

/// Metric name -> value, per task name.
using TaskMetrics = std::map<std::string, std::map<std::string, double>>;

/// One task's prediction for N rows, in the target's units.
struct TaskPrediction {
  /// regression [N]; binary: the probability of class 1 [N]; C classes: probabilities [N, C].
  Tensor value;
  /// regression by several members, a deep ensemble or MC dropout: the predictive standard
  /// deviation [N]; else undefined.
  Tensor std{};
  /// classification by several members or MC dropout: the predictive entropy and the mutual
  /// information between prediction and member (nats) [N]; else undefined.
  Tensor entropy{}, mutual_information{};
};

struct RunReport {
  /// The histories of this call's training runs, in order (after a resume, the epochs it
  /// added): one for a single network, MC dropout, BatchEnsemble and fusion; one per member
  /// for voting, bagging, gradient boosting and deep ensembles; one per cycle for snapshot.
  std::vector<History> runs{};
  int64_t epochs = 0;              // epochs trained in all: resumed ones and every run's included
  double seconds_per_epoch = 0;    // mean wall time of the epochs trained in this call
  TaskMetrics test_metrics;        // on the held-out split, in the targets' units
  TaskMetrics validation_metrics;  // the same on the validation split: for choosing models
  std::vector<TaskMetrics> member_metrics{};       // ensembles: each member's own
  std::vector<Tensor> test_targets{};              // per task [N], in the targets' units
  std::vector<TaskPrediction> test_predictions{};  // per task, as predict() gives
  int64_t train_rows = 0, validation_rows = 0, test_rows = 0;
  double seconds = 0;
  std::string metrics_json{};  // what metrics.json holds
  /// What the run decided for the user that changes its result, one sentence each (the
  /// command prints them on stderr), e.g. a temperature --calibrate could not fit, or that
  /// Ctrl-C stopped the training (what was trained is still scored and saved).
  std::vector<std::string> notes{};

  /// Whether Ctrl-C (or Trainer::request_stop) stopped one of the runs.
  bool interrupted() const;
};

/// Runs everything above and writes `out_dir`: model.safetensors (weights, scalers and the
/// configuration, see save_model), config.json, metrics.json, metrics.csv, tensorboard/ and
/// checkpoint/ (for ensembles, metrics.csv and tensorboard/ per run in member_<k>/, fusion/
/// or cycle_<m>/). manual_seed(seed) first, so the split, the initialisation, the shuffling and
/// dropout all follow from `seed`. The split is stratified on the first classification
/// target, if any. With `resume`, a run stopped early (Ctrl-C, a crash) continues from its
/// last checkpoint and ends as the uninterrupted run would have; metrics.csv keeps its rows.
/// Throws Error naming what is wrong (file, line, column, option).
RunReport train_run(const RunOptions& options);

/// The epochs of a snapshot ensemble of `members` cycles when the user set none: `epochs`
/// rounded down to a multiple of `members` (train_run refuses any other), at least one per
/// cycle.
int64_t snapshot_epochs(int64_t epochs, int64_t members);

/// The model a run trains, as its file records it.
struct ModelSpec {
  std::string architecture = "mlp";  // mlp, mmoe or ple (see RunOptions)
  int64_t inputs = 0;
  std::vector<int64_t> hidden = {64, 64};
  int64_t experts = 4;
  std::string activation = "relu";
  float dropout = 0.f;
  /// The tasks as trained (a deep ensemble's regression tasks are models::gaussian).
  std::vector<models::Task> tasks{};
  int64_t members = 1;
  std::string method{};    // empty for one network
  int64_t samples = 0;     // mc_dropout: forward passes per prediction
  double shrinkage = 1.0;  // gradient_boosting
  /// Per task, the fitted temperature (RunOptions::calibrate; 1 for regression tasks);
  /// empty when the run was not calibrated.
  std::vector<double> temperatures{};
};

/// `spec.members` networks of `spec`, drawn from the calling thread's generator in order. Throws
/// Error for an unknown architecture or a configuration the network rejects.
models::Ensemble build_members(const ModelSpec& spec);
/// The parameters every task of `network` (a member of build_members) depends on.
std::vector<Tensor> shared_parameters(const nn::Module& network);

/// A trained model with what it needs to read raw inputs and report in raw units.
struct SavedModel {
  ModelSpec spec;
  models::Ensemble members;
  std::vector<std::string> feature_names;
  data::StandardScaler input_scaler;                 // unfitted when inputs were not scaled
  std::vector<data::StandardScaler> target_scalers;  // per task; unfitted when not scaled
};

/// Writes the members' weights, the scalers ("scaler.input.mean", "scaler.<task>.scale",
/// ...) and the spec (metadata "ember_model", JSON) to one safetensors file.
void save_model(const std::string& path, const SavedModel& model);
/// Reads a file written by save_model, or the model.safetensors in the folder `path`. Throws
/// Error naming the path when it is not one.
SavedModel load_model(const std::string& path);

/// Per task, the prediction for raw inputs x [N, F], combined over the members as the
/// method does: mean (regression), soft voting (classification), the Gaussian mixture (deep
/// ensembles), the shrunken sum (gradient boosting), the mean logits (fusion); then, when
/// the spec has temperatures, temperature-scaled (the entropy and mutual information stay
/// those of the members as trained).
std::vector<TaskPrediction> predict(SavedModel& model, const Tensor& x);
/// Each member's own prediction (members with a value of their own; not for gradient
/// boosting, whose members predict residuals): [member][task].
std::vector<std::vector<TaskPrediction>> predict_members(SavedModel& model, const Tensor& x);

/// The metrics of one task's prediction against targets [N]: regression: rmse, mae, r2,
/// and with a standard deviation gaussian_nll and coverage_95; binary: accuracy, f1,
/// roc_auc, log_loss, brier, ece; classes: accuracy, f1_macro, f1_micro, log_loss, brier,
/// ece. A metric the targets leave undefined is NaN (null in the JSON): roc_auc when they
/// hold one class only, r2 for fewer than 2 rows. A small or skewed split can do that, and a
/// run must not fail for it once it has trained.
std::map<std::string, double> task_metrics(const models::Task& task, const Tensor& target,
                                           const TaskPrediction& prediction);

/// The metrics as JSON text: {"<task>": {"<metric>": value, ...}, ...}.
std::string to_json(const TaskMetrics& metrics);

}  // namespace ember::train
