#pragma once
// Trainer: the training loop every ember model shares. Epochs over a DataLoader, one loss
// per task, an optimizer (and optionally a scheduler) step per batch, validation after each
// epoch, early stopping that restores the best weights, gradient clipping, callbacks,
// checkpoints that resume bit for bit, and a clean stop on Ctrl-C.
//
//   models::MultiTaskModel model;
//   optim::Adam adam(model.parameters(), {.lr = 1e-3});
//   train::Trainer trainer(model, {models::regression("a"), models::regression("b"),
//                                  models::regression("c")}, adam, {.epochs = 50});
//   train::History history = trainer.fit(train_set, &validation_set);
//
// Datasets hold the inputs first and then one target tensor per task, [N] each:
// data::TensorDataset({x, y_a, y_b, y_c}).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <ember/core/tensor.h>
#include <ember/models/forward.h>
#include <ember/models/multitask/balancer.h>
#include <ember/models/task.h>
#include <ember/nn/dataset.h>
#include <ember/nn/module.h>
#include <ember/optim/lr_scheduler.h>
#include <ember/optim/optimizer.h>
#include <ember/train/process_group.h>

namespace ember::train {

using models::Task;
using models::TaskType;

using models::Forward;
using models::forward_of;

struct TrainerOptions {
  int64_t epochs = 10;
  int64_t batch_size = 32;
  bool shuffle = true;  // a new order each epoch, drawn from the calling thread's generator

  /// Early stopping: stop after `patience` epochs in which `monitor` did not improve by
  /// more than `min_delta` (0: never stop early), then restore the best epoch's weights.
  int64_t patience = 0;
  double min_delta = 0.0;
  /// An epoch metric (see EpochResult::metrics) such as "val/loss" or "val/digit/accuracy";
  /// losses, errors and calibration are minimised, the rest maximised. Without validation
  /// data, "train/loss" is monitored instead of "val/loss".
  std::string monitor = "val/loss";
  /// At the end of fit, load the weights of the epoch where `monitor` was best.
  bool restore_best = true;

  /// Clip the gradients' total 2-norm to this before each step (0: no clipping).
  double clip_grad_norm = 0.0;

  /// Write a checkpoint here after every epoch (empty: none); resume() reads it back.
  std::string checkpoint_dir{};

  /// Stop cleanly on SIGINT (Ctrl-C) after the current batch, keeping the best weights.
  bool stop_on_interrupt = true;
};

/// What one optimizer step saw.
struct StepResult {
  int64_t epoch = 0;  // from 0
  int64_t step = 0;   // global, from 1
  double loss = 0;    // the sum of the task losses
  std::vector<double> task_losses{};
};

/// What one epoch ended with. `metrics` holds, by name:
///   train/loss, train/<task>/loss      means over the epoch's batches
///   train/<task>/weight                the balancer's weight of the task at the last step
///                                      (with a balancer that has weights)
///   val/loss, val/<task>/loss          on the validation data, when given
///   val/<task>/accuracy                classification tasks
///   val/<task>/rmse                    regression and gaussian tasks (of the mean)
///   lr                                 the first parameter group's learning rate
struct EpochResult {
  int64_t epoch = 0;
  std::map<std::string, double> metrics;
  bool improved = false;  // `monitor` improved on the best so far
  double seconds = 0;
};

/// The epochs of a fit, and how it ended.
struct History {
  std::vector<EpochResult> epochs;
  int64_t best_epoch = -1;  // where `monitor` was best (-1 when no epoch ran)
  double best_value = 0;
  bool stopped_early = false;
  bool interrupted = false;  // by Ctrl-C or request_stop()
};

/// A History as bytes, to send between processes (train/process_group.h), and back.
/// history_from_bytes throws Error for bytes that to_bytes did not write.
std::vector<std::byte> to_bytes(const History& history);
History history_from_bytes(std::span<const std::byte> bytes);

/// Hooks into the loop; override what you need. Called on the training thread.
class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_step_end(const StepResult&) {}
  virtual void on_epoch_end(const EpochResult&) {}
};

/// Trains a model with one output per task (see the file comment).
class Trainer {
 public:
  /// `model` supplies the parameters and state; `forward` the outputs. The trainer keeps
  /// references to model and optimizer: both must outlive it. Throws Error when `tasks` is
  /// empty or options are invalid (epochs < 0, batch_size < 1, negative patience).
  Trainer(nn::Module& model, Forward forward, std::vector<Task> tasks, optim::Optimizer& optimizer,
          TrainerOptions options = {});
  /// Same, with the model's own forward (see forward_of).
  template <class M>
  requires std::is_base_of_v<nn::Module, M> Trainer(M& model, std::vector<Task> tasks,
                                                    optim::Optimizer& optimizer,
                                                    TrainerOptions options = {})
      : Trainer(model, forward_of(model), std::move(tasks), optimizer, std::move(options)) {}

  /// A scheduler stepped once per epoch (ReduceLROnPlateau with the monitored metric).
  /// It must drive this trainer's optimizer and outlive the trainer.
  void set_scheduler(optim::Scheduler* scheduler) { scheduler_ = scheduler; }
  /// How the task losses of a batch become gradients (models/multitask/balancer.h); without
  /// one, their sum is backpropagated (equal weighting). Its own parameters, if any, must be
  /// in the optimizer; its state is saved in checkpoints. It must outlive the trainer.
  void set_balancer(models::mtl::Balancer* balancer) { balancer_ = balancer; }
  /// How a batch becomes its task losses: (inputs, one target per task) -> one loss per
  /// task. Without one, the forward's outputs go through models::task_loss. Training
  /// schemes that change the batch (adversarial examples, train/ensemble.h) set it;
  /// evaluate() and predict() keep using the forward.
  using BatchLoss =
      std::function<std::vector<Tensor>(const Tensor& x, const std::vector<Tensor>& targets)>;
  void set_batch_loss(BatchLoss batch_loss) { batch_loss_ = std::move(batch_loss); }
  void add_callback(std::shared_ptr<Callback> callback);
  /// Trains data-parallel over `group` (null, the default: this process alone). Every process
  /// runs the same program on the same data; fit() then makes every process's parameters
  /// and buffers rank 0's, gives each process its shard of every batch (ProcessGroup::epoch),
  /// and before each optimizer step sums the processes' gradients, each weighted by its
  /// shard's share of the batch's rows, so that every process takes the step one process
  /// would take on the whole batch (up to float rounding). The losses are reduced the same
  /// way; validation is scored on rank 0 and its metrics shared; only rank 0 writes
  /// checkpoints, and every process can resume() from them. With more than one process,
  /// fit() throws Error for a balancer whose update is not linear in the task losses (only
  /// equal, uncertainty and dwa are) and for a model with BatchNorm1d layers (each process
  /// would normalise by its shard's statistics). A batch loss (set_batch_loss) must be a
  /// mean over the batch's rows. The group must outlive the trainer.
  void set_process_group(ProcessGroup* group) { group_ = group; }
  ProcessGroup* process_group() const { return group_; }

  /// Trains for the remaining epochs (all of them, or those left after resume()).
  /// `train` and `validation` hold the inputs and then one target per task. Throws Error for
  /// datasets that do not fit the tasks, and when a loss becomes NaN or infinite (naming the
  /// epoch, step and task; the checkpoint on disk stays that of the last good epoch).
  History fit(const data::TensorDataset& train, const data::TensorDataset* validation = nullptr);

  /// Loads the checkpoint in `options.checkpoint_dir` (model, optimizer, scheduler, epoch,
  /// step, early-stopping state, best weights, the thread's random state), so that fit()
  /// continues exactly where that run stopped. Throws Error when there is no checkpoint or
  /// it does not fit this model, optimizer or scheduler.
  void resume();

  /// Asks fit() to stop after the current batch (callbacks may call it).
  void request_stop() { stop_requested_ = true; }

  /// The model's outputs for `x` [N, ...] in evaluation mode, without a graph, in batches.
  std::vector<Tensor> predict(const Tensor& x);
  /// Per-task losses and metrics of the model on `dataset`, named "<prefix>/loss",
  /// "<prefix>/<task>/loss", "<prefix>/<task>/accuracy" or ".../rmse".
  std::map<std::string, double> evaluate(const data::TensorDataset& dataset,
                                         const std::string& prefix = "val");

  const std::vector<Task>& tasks() const { return tasks_; }
  const TrainerOptions& options() const { return options_; }
  /// Epochs completed so far (by fit, or restored by resume).
  int64_t epochs_done() const { return epoch_; }

 private:
  void check_dataset(const data::TensorDataset& dataset, const char* which) const;
  std::vector<Tensor> batch_losses(const std::vector<Tensor>& batch) const;
  StepResult train_step(const std::vector<Tensor>& batch, int64_t epoch, double share);
  bool improves(double value) const;
  void save_checkpoint() const;
  void check_data_parallel() const;
  bool on_rank_zero() const { return !group_ || group_->rank() == 0; }

  nn::Module& model_;
  Forward forward_;
  std::vector<Task> tasks_;
  optim::Optimizer& optimizer_;
  TrainerOptions options_;
  optim::Scheduler* scheduler_ = nullptr;
  models::mtl::Balancer* balancer_ = nullptr;
  BatchLoss batch_loss_;
  std::vector<std::shared_ptr<Callback>> callbacks_;
  ProcessGroup* group_ = nullptr;

  // Where the run stands; saved in checkpoints.
  int64_t epoch_ = 0;  // epochs completed
  int64_t step_ = 0;   // optimizer steps taken
  History history_;
  int64_t bad_epochs_ = 0;  // epochs since `monitor` last improved
  nn::NamedTensors best_state_;
  bool stop_requested_ = false;
};

}  // namespace ember::train
