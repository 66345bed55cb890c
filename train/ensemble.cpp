#include <ember/core/autograd.h>
#include <ember/core/ops.h>
#include <ember/core/random.h>
#include <ember/error.h>
#include <ember/models/ensemble/combine.h>
#include <ember/optim/adam.h>
#include <ember/optim/cosine_annealing_warm_restarts.h>
#include <ember/optim/sgd.h>
#include <ember/train/ensemble.h>

#include <cstring>
#include <optional>
#include <random>
#include <span>

namespace ember::train {

namespace {

const std::vector<std::pair<EnsembleMethod, const char*>> kMethodNames = {
    {EnsembleMethod::voting, "voting"},
    {EnsembleMethod::bagging, "bagging"},
    {EnsembleMethod::fusion, "fusion"},
    {EnsembleMethod::snapshot, "snapshot"},
    {EnsembleMethod::gradient_boosting, "gradient_boosting"},
    {EnsembleMethod::deep_ensemble, "deep_ensemble"},
};

void check_shrinkage(const char* where, double shrinkage) {
  if (!(shrinkage > 0 && shrinkage <= 1)) {
    throw Error(std::string(where) + ": shrinkage must be in (0, 1], got " +
                std::to_string(shrinkage));
  }
}

// Each run gets a folder of its own inside the checkpoint folder, so runs do not overwrite
// each other's checkpoints.
TrainerOptions options_for_run(const TrainerOptions& options, const std::string& run) {
  TrainerOptions copy = options;
  if (!copy.checkpoint_dir.empty()) copy.checkpoint_dir += "/" + run;
  return copy;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const EnsembleOptions& options,
                                                 std::vector<Tensor> parameters) {
  const OptimizerFactory factory = options.optimizer ? options.optimizer : adam_factory();
  std::unique_ptr<optim::Optimizer> optimizer = factory(std::move(parameters));
  if (!optimizer) throw Error("fit_ensemble: the optimizer factory returned no optimizer");
  return optimizer;
}

Forward member_forward(const models::Ensemble& ensemble, int64_t k) {
  return [&ensemble, k](const Tensor& x) { return ensemble.member_outputs(k, x); };
}

// Member k's outputs for every row of x, in eval mode and without a graph.
std::vector<Tensor> member_predictions(const models::Ensemble& ensemble, int64_t k,
                                       const Tensor& x) {
  nn::Module& member = ensemble.member(k);
  const bool was_training = member.is_training();
  member.eval();
  NoGradGuard no_grad;
  std::vector<Tensor> outputs = ensemble.member_outputs(k, x);
  member.train(was_training);
  return outputs;
}

data::TensorDataset rows_of(const data::TensorDataset& dataset, const Tensor& indices) {
  std::vector<Tensor> selected;
  for (const Tensor& tensor : dataset.tensors())
    selected.push_back(index_select(tensor, 0, indices));
  return data::TensorDataset(selected);
}

// Fast gradient sign (Goodfellow et al. 2015), as deep ensembles use it (Lakshminarayanan et
// al. 2017, Section 2.3): x' = x + ε sign(∇_x ℓ(x, y)), and the batch loss is
// ℓ(x, y) + ℓ(x', y), task by task. ε [F...] holds one step per input feature.
Trainer::BatchLoss adversarial_loss(const models::Ensemble& ensemble, int64_t k,
                                    const std::vector<models::Task>& tasks, Tensor epsilon) {
  return [&ensemble, k, &tasks, epsilon](const Tensor& x, const std::vector<Tensor>& targets) {
    const auto losses_at = [&](const Tensor& input) {
      const std::vector<Tensor> outputs = ensemble.member_outputs(k, input);
      if (outputs.size() != tasks.size()) {
        throw Error("fit_ensemble: member " + std::to_string(k) + " gave " +
                    std::to_string(outputs.size()) + " outputs for " +
                    std::to_string(tasks.size()) + " tasks");
      }
      std::vector<Tensor> losses;
      for (size_t t = 0; t < tasks.size(); ++t)
        losses.push_back(models::task_loss(tasks[t], outputs[t], targets[t]));
      return losses;
    };
    Tensor input = x.detach();
    input.requires_grad_();
    std::vector<Tensor> losses = losses_at(input);
    Tensor total = losses[0];
    for (size_t t = 1; t < losses.size(); ++t) total = total + losses[t];
    const Tensor gradient = grad({total}, {input}, {}, /*retain_graph=*/true)[0];
    const Tensor sign = (gradient > 0.f) - (gradient < 0.f);
    const std::vector<Tensor> adversarial = losses_at(x + epsilon * sign);
    for (size_t t = 0; t < losses.size(); ++t) losses[t] = losses[t] + adversarial[t];
    return losses;
  };
}

// Records the lr of every step, then moves the scheduler on by one step.
class StepScheduler : public Callback {
 public:
  StepScheduler(optim::Optimizer& optimizer, optim::LRScheduler& scheduler,
                std::vector<double>& learning_rates)
      : optimizer_(optimizer), scheduler_(scheduler), learning_rates_(learning_rates) {}
  void on_step_end(const StepResult&) override { step(); }
  /// For a cycle resumed `steps` steps in: from the cycle's start, a restart (every group at
  /// its base lr, whatever lr the checkpoint left), the schedule stepped as if those steps had
  /// just been trained.
  void replay(int64_t steps) {
    for (size_t group = 0; group < scheduler_.base_lrs().size(); ++group)
      optimizer_.set_lr(group, scheduler_.base_lrs()[group]);
    for (int64_t i = 0; i < steps; ++i) step();
  }

 private:
  void step() {
    learning_rates_.push_back(optimizer_.lr(0));
    scheduler_.step();
  }

  optim::Optimizer& optimizer_;
  optim::LRScheduler& scheduler_;
  std::vector<double>& learning_rates_;
};

void append_bytes(std::vector<std::byte>& bytes, const void* data, size_t length) {
  const auto* first = static_cast<const std::byte*>(data);
  bytes.insert(bytes.end(), first, first + length);
}

// Ensemble-parallel's last step: every process sends rank 0 its members (k ≡ rank mod size),
// each as k, its History's length and bytes, and its state's floats in state_dict order; rank
// 0 puts them in place. Weights travel as the floats they are, so the gathered ensemble is
// bit for bit the one a single process trains.
void gather_members(models::Ensemble& ensemble, ProcessGroup& group, EnsembleHistory& history) {
  std::vector<std::byte> bytes;
  for (int64_t k = group.rank(); k < ensemble.size(); k += group.size()) {
    const std::vector<std::byte> run = to_bytes(history.runs[static_cast<size_t>(k)]);
    const uint64_t header[2] = {static_cast<uint64_t>(k), run.size()};
    append_bytes(bytes, header, sizeof header);
    bytes.insert(bytes.end(), run.begin(), run.end());
    for (const auto& [name, tensor] : ensemble.member(k).state_dict())
      append_bytes(bytes, tensor.data(), static_cast<size_t>(tensor.numel()) * sizeof(float));
  }
  const std::vector<std::vector<std::byte>> gathered = group.gather(bytes);
  const NoGradGuard no_grad;
  for (size_t r = 1; r < gathered.size(); ++r) {
    std::span<const std::byte> rest(gathered[r]);
    const auto take = [&](size_t length) {
      if (length > rest.size()) {
        throw Error("fit_ensemble: rank " + std::to_string(r) + " sent fewer bytes than its " +
                    "members need; every process must build the same ensemble");
      }
      const std::span<const std::byte> taken = rest.first(length);
      rest = rest.subspan(length);
      return taken;
    };
    while (!rest.empty()) {
      uint64_t header[2];
      std::memcpy(header, take(sizeof header).data(), sizeof header);
      const auto k = static_cast<int64_t>(header[0]);
      if (k < 0 || k >= ensemble.size() || k % group.size() != static_cast<int64_t>(r)) {
        throw Error("fit_ensemble: rank " + std::to_string(r) + " sent member " +
                    std::to_string(header[0]) + ", which is not one of its members");
      }
      history.runs[static_cast<size_t>(k)] = history_from_bytes(take(header[1]));
      for (const auto& [name, tensor] : ensemble.member(k).state_dict()) {
        Tensor target = tensor;
        const size_t length = static_cast<size_t>(tensor.numel()) * sizeof(float);
        std::memcpy(target.mutable_data(), take(length).data(), length);
      }
    }
  }
}

// Voting, bagging and deep ensembles: member k trains alone after manual_seed(seed_k).
// Voting is the baseline of every ensemble study; bagging is Breiman (1996), "Bagging
// predictors"; deep ensembles are Lakshminarayanan et al. (2017), "Simple and scalable
// predictive uncertainty estimation using deep ensembles": independent members, a proper
// scoring rule (the gaussian task's NLL for regression), optionally adversarial training.
void fit_independent(models::Ensemble& ensemble, const std::vector<models::Task>& tasks,
                     const EnsembleOptions& options, const data::TensorDataset& train,
                     const data::TensorDataset* validation, EnsembleHistory& history) {
  for (int64_t k = 0; k < ensemble.size(); ++k) history.seeds.push_back(next_seed());
  Tensor epsilon;
  if (options.method == EnsembleMethod::deep_ensemble && options.adversarial) {
    const Tensor& x = train.tensors()[0];
    epsilon =
        static_cast<float>(options.adversarial_epsilon) * (max(x, 0).values - min(x, 0).values);
  }
  const int64_t ranks = options.group ? options.group->size() : 1;
  const int64_t rank = options.group ? options.group->rank() : 0;
  history.runs.resize(static_cast<size_t>(ensemble.size()));
  for (int64_t k = rank; k < ensemble.size(); k += ranks) {
    const uint64_t seed = history.seeds[static_cast<size_t>(k)];
    manual_seed(seed);
    const data::TensorDataset member_train =
        options.method == EnsembleMethod::bagging
            ? rows_of(train, bootstrap_indices(train.size(), seed))
            : train;
    const std::unique_ptr<optim::Optimizer> optimizer =
        make_optimizer(options, ensemble.member(k).parameters());
    const std::string run = "member_" + std::to_string(k);
    Trainer trainer(ensemble.member(k), member_forward(ensemble, k), tasks, *optimizer,
                    options_for_run(options.trainer, run));
    if (epsilon.defined()) trainer.set_batch_loss(adversarial_loss(ensemble, k, tasks, epsilon));
    if (options.prepare_run) options.prepare_run(run, trainer);
    history.runs[static_cast<size_t>(k)] = trainer.fit(member_train, validation);
    if (history.runs[static_cast<size_t>(k)].interrupted) break;  // Ctrl-C ends them all
  }
  if (options.group) gather_members(ensemble, *options.group, history);
}

// Fusion (torchensemble's FusionRegressor/FusionClassifier): the loss is computed once, on the
// members' mean output, and its gradient reaches every member. As torchensemble does, the mean
// is taken over raw outputs, so classification tasks average logits, not probabilities.
void fit_fusion(models::Ensemble& ensemble, const std::vector<models::Task>& tasks,
                const EnsembleOptions& options, const data::TensorDataset& train,
                const data::TensorDataset* validation, EnsembleHistory& history) {
  const Forward mean_forward = [&ensemble](const Tensor& x) {
    std::vector<Tensor> outputs = ensemble.stacked_outputs(x);  // per task [K, B, ...]
    for (Tensor& output : outputs) output = mean(output, {0});
    return outputs;
  };
  const std::unique_ptr<optim::Optimizer> optimizer =
      make_optimizer(options, ensemble.parameters());
  Trainer trainer(ensemble, mean_forward, tasks, *optimizer,
                  options_for_run(options.trainer, "fusion"));
  trainer.set_process_group(options.group);
  if (options.prepare_run) options.prepare_run("fusion", trainer);
  history.runs.push_back(trainer.fit(train, validation));
}

// Snapshot ensembles (Huang et al. 2017, "Snapshot ensembles: train 1, get M for free"): over
// T iterations in M cycles, the lr of iteration t = 1..T is
//   α(t) = α0/2 · (cos(π · mod(t − 1, ⌈T/M⌉) / ⌈T/M⌉) + 1),
// which is PyTorch's CosineAnnealingWarmRestarts with T_0 = ⌈T/M⌉ and eta_min = 0, stepped
// after every iteration. Here T/M is a whole number of epochs, so each cycle ends with an
// epoch and its weights become one member.
void fit_snapshot(models::Ensemble& ensemble, const std::vector<models::Task>& tasks,
                  const EnsembleOptions& options, const data::TensorDataset& train,
                  const data::TensorDataset* validation, EnsembleHistory& history) {
  const int64_t cycles = ensemble.size(), epochs = options.trainer.epochs;
  if (epochs < cycles || epochs % cycles != 0) {
    throw Error("fit_ensemble (snapshot): epochs (" + std::to_string(epochs) +
                ") must be a positive multiple of the number of members (" +
                std::to_string(cycles) + "), one cycle per member");
  }
  if (options.trainer.patience > 0) {
    throw Error("fit_ensemble (snapshot): early stopping (patience " +
                std::to_string(options.trainer.patience) + ") would cut a cycle short");
  }
  const int64_t batch_size = options.trainer.batch_size;
  if (batch_size < 1) {
    throw Error("fit_ensemble (snapshot): batch_size must be >= 1, got " +
                std::to_string(batch_size));
  }
  const int64_t batches = (train.size() + batch_size - 1) / batch_size;
  const int64_t network = cycles - 1;  // trained in place; earlier snapshots are copied out
  const std::unique_ptr<optim::Optimizer> optimizer =
      make_optimizer(options, ensemble.member(network).parameters());
  optim::CosineAnnealingWarmRestarts schedule(*optimizer, epochs / cycles * batches);
  const auto stepper =
      std::make_shared<StepScheduler>(*optimizer, schedule, history.learning_rates);
  for (int64_t cycle = 0; cycle < cycles; ++cycle) {
    const std::string run = "cycle_" + std::to_string(cycle);
    TrainerOptions cycle_options = options_for_run(options.trainer, run);
    cycle_options.epochs = epochs / cycles;
    cycle_options.restore_best = false;  // the snapshot is the cycle's end, by definition
    Trainer trainer(ensemble.member(network), member_forward(ensemble, network), tasks, *optimizer,
                    cycle_options);
    trainer.add_callback(stepper);
    trainer.set_process_group(options.group);
    if (options.prepare_run) options.prepare_run(run, trainer);
    // A cycle that prepare_run resumed from its checkpoint (finished or not) replays its steps
    // so far into the schedule and the recorded learning rates, and goes on where it stopped.
    if (trainer.epochs_done() > 0) stepper->replay(trainer.epochs_done() * batches);
    history.runs.push_back(trainer.fit(train, validation));
    if (history.runs.back().interrupted) break;  // Ctrl-C ends them all
    if (cycle != network)
      ensemble.member(cycle).load_state_dict(ensemble.member(network).state_dict());
  }
}

// Gradient boosting (Friedman 2001, "Greedy function approximation: a gradient boosting
// machine"), as torchensemble's GradientBoostingRegressor does it: with F_m = ν Σ_{j≤m} f_j
// and squared loss ½ (y − F)², the negative gradient at F_{m−1} is the residual
// r_m = y − F_{m−1}, and member m fits it by MSE. torchensemble recomputes the residual of
// every batch from the earlier members; it does not change while member m trains, so it is
// computed once per stage here.
void fit_boosting(models::Ensemble& ensemble, const std::vector<models::Task>& tasks,
                  const EnsembleOptions& options, const data::TensorDataset& train,
                  const data::TensorDataset* validation, EnsembleHistory& history) {
  check_shrinkage("fit_ensemble (gradient_boosting)", options.shrinkage);
  for (const models::Task& task : tasks) {
    if (task.type != models::TaskType::regression) {
      throw Error("fit_ensemble (gradient_boosting): task '" + task.name + "' is " +
                  models::to_string(task.type) + "; only regression tasks are supported");
    }
  }
  const float shrinkage = static_cast<float>(options.shrinkage);
  // The shrunken sum so far on a dataset, per task, shaped like its targets.
  const auto zeros_like_targets = [](const data::TensorDataset& dataset) {
    std::vector<Tensor> sums;
    for (size_t t = 1; t < dataset.tensors().size(); ++t)
      sums.push_back(zeros(dataset.tensors()[t].shape()));
    return sums;
  };
  const auto residuals = [](const data::TensorDataset& dataset, const std::vector<Tensor>& sums) {
    std::vector<Tensor> tensors{dataset.tensors()[0]};
    for (size_t t = 0; t < sums.size(); ++t) tensors.push_back(dataset.tensors()[t + 1] - sums[t]);
    return data::TensorDataset(tensors);
  };
  const auto add_member = [&](int64_t k, const data::TensorDataset& dataset,
                              std::vector<Tensor>& sums) {
    const std::vector<Tensor> outputs = member_predictions(ensemble, k, dataset.tensors()[0]);
    for (size_t t = 0; t < sums.size(); ++t)
      sums[t] = sums[t] + shrinkage * outputs[t].reshape(sums[t].shape());
  };
  std::vector<Tensor> train_sums = zeros_like_targets(train);
  std::vector<Tensor> validation_sums =
      validation ? zeros_like_targets(*validation) : std::vector<Tensor>{};
  for (int64_t k = 0; k < ensemble.size(); ++k) {
    const data::TensorDataset stage_train = residuals(train, train_sums);
    const std::optional<data::TensorDataset> stage_validation =
        validation ? std::optional(residuals(*validation, validation_sums)) : std::nullopt;
    const std::unique_ptr<optim::Optimizer> optimizer =
        make_optimizer(options, ensemble.member(k).parameters());
    const std::string run = "member_" + std::to_string(k);
    Trainer trainer(ensemble.member(k), member_forward(ensemble, k), tasks, *optimizer,
                    options_for_run(options.trainer, run));
    trainer.set_process_group(options.group);
    if (options.prepare_run) options.prepare_run(run, trainer);
    history.runs.push_back(
        trainer.fit(stage_train, stage_validation ? &*stage_validation : nullptr));
    if (history.runs.back().interrupted) break;  // Ctrl-C ends them all
    add_member(k, train, train_sums);
    if (validation) add_member(k, *validation, validation_sums);
    double loss = 0;
    for (size_t t = 0; t < train_sums.size(); ++t)
      loss += mse_loss(train_sums[t], train.tensors()[t + 1]).item();
    history.stage_losses.push_back(loss);
  }
}

}  // namespace

std::string to_string(EnsembleMethod method) {
  for (const auto& [known, name] : kMethodNames) {
    if (known == method) return name;
  }
  return "unknown";
}

EnsembleMethod ensemble_method(const std::string& name) {
  std::string known;
  for (const auto& [method, method_name] : kMethodNames) {
    if (name == method_name) return method;
    known += (known.empty() ? "" : ", ") + std::string(method_name);
  }
  throw Error("ensemble_method: unknown method \"" + name + "\" (known: " + known + ")");
}

OptimizerFactory adam_factory(double lr, double weight_decay) {
  return [lr, weight_decay](std::vector<Tensor> parameters) -> std::unique_ptr<optim::Optimizer> {
    return std::make_unique<optim::Adam>(
        std::move(parameters), optim::AdamOptions{.lr = lr, .weight_decay = weight_decay});
  };
}

OptimizerFactory sgd_factory(double lr, double momentum, double weight_decay) {
  return [=](std::vector<Tensor> parameters) -> std::unique_ptr<optim::Optimizer> {
    return std::make_unique<optim::SGD>(
        std::move(parameters),
        optim::SGDOptions{.lr = lr, .momentum = momentum, .weight_decay = weight_decay});
  };
}

EnsembleHistory fit_ensemble(models::Ensemble& ensemble, const std::vector<models::Task>& tasks,
                             const EnsembleOptions& options, const data::TensorDataset& train,
                             const data::TensorDataset* validation) {
  if (ensemble.size() < 1) throw Error("fit_ensemble: the ensemble has no members");
  if (!(options.adversarial_epsilon >= 0)) {
    throw Error("fit_ensemble: adversarial_epsilon must be >= 0, got " +
                std::to_string(options.adversarial_epsilon));
  }
  EnsembleHistory history;
  switch (options.method) {
    case EnsembleMethod::voting:
    case EnsembleMethod::bagging:
    case EnsembleMethod::deep_ensemble:
      fit_independent(ensemble, tasks, options, train, validation, history);
      break;
    case EnsembleMethod::fusion:
      fit_fusion(ensemble, tasks, options, train, validation, history);
      break;
    case EnsembleMethod::snapshot:
      fit_snapshot(ensemble, tasks, options, train, validation, history);
      break;
    case EnsembleMethod::gradient_boosting:
      fit_boosting(ensemble, tasks, options, train, validation, history);
      break;
    default:
      throw Error("fit_ensemble: unknown method " +
                  std::to_string(static_cast<int>(options.method)));
  }
  return history;
}

// The remainder of a 64-bit draw: its bias towards small indices is below n / 2^64.
Tensor bootstrap_indices(int64_t n, uint64_t seed) {
  if (n < 1 || n > (int64_t{1} << 24)) {
    throw Error("bootstrap_indices: n must be in [1, 2^24], got " + std::to_string(n));
  }
  std::mt19937_64 generator(seed);
  std::vector<float> indices(static_cast<size_t>(n));
  for (float& index : indices) index = static_cast<float>(generator() % static_cast<uint64_t>(n));
  return tensor(indices, {n});
}

std::vector<Tensor> boosted_outputs(const models::Ensemble& ensemble, const Tensor& x,
                                    double shrinkage) {
  check_shrinkage("boosted_outputs", shrinkage);
  if (ensemble.size() < 1) throw Error("boosted_outputs: the ensemble has no members");
  std::vector<Tensor> sums;
  for (int64_t k = 0; k < ensemble.size(); ++k) {
    const std::vector<Tensor> outputs = member_predictions(ensemble, k, x);
    if (k == 0) sums.assign(outputs.size(), Tensor());
    for (size_t t = 0; t < outputs.size(); ++t) {
      const Tensor term = static_cast<float>(shrinkage) * outputs[t];
      sums[t] = sums[t].defined() ? sums[t] + term : term;
    }
  }
  return sums;
}

models::MeanVariance gaussian_mixture(const Tensor& stacked) {
  if (stacked.dim() != 3 || stacked.size(2) != 2) {
    throw Error("gaussian_mixture: expected stacked member outputs [K, B, 2], got " +
                to_string(stacked.shape()));
  }
  const int64_t members = stacked.size(0), batch = stacked.size(1);
  const auto [means, variances] = models::gaussian_mean_variance(stacked.reshape({-1, 2}));
  return models::gaussian_mixture(means.reshape({members, batch}),
                                  variances.reshape({members, batch}));
}

// MC dropout (Gal & Ghahramani 2016, "Dropout as a Bayesian approximation", Section 3): each
// pass with dropout on samples the approximate posterior over weights; the T outputs' mean is
// the predictive mean and their spread the model uncertainty. T = 20 is a small default of
// ember's, not the paper's (its figures use more passes); raise it for smoother estimates.
std::vector<Tensor> mc_dropout_samples(nn::Module& model, const models::Forward& forward,
                                       const Tensor& x, int64_t samples) {
  if (samples < 1) {
    throw Error("mc_dropout_samples: samples must be >= 1, got " + std::to_string(samples));
  }
  const bool was_training = model.is_training();
  model.train();
  NoGradGuard no_grad;
  std::vector<std::vector<Tensor>> per_task;
  for (int64_t s = 0; s < samples; ++s) {
    std::vector<Tensor> outputs = forward(x);
    if (s == 0) per_task.resize(outputs.size());
    for (size_t t = 0; t < outputs.size(); ++t) per_task[t].push_back(std::move(outputs[t]));
  }
  model.train(was_training);
  std::vector<Tensor> stacked;
  for (const auto& outputs : per_task) stacked.push_back(stack(outputs, 0));
  return stacked;
}

namespace {

// The network's tasks, none of them gaussian.
const std::vector<Task>& batch_ensemble_tasks(const models::BatchEnsembleNet& net,
                                              const std::string& op) {
  const std::vector<Task>& tasks = net.config().tasks;
  for (const Task& task : tasks) {
    if (task.type == TaskType::gaussian)
      throw Error(op + ": task '" + task.name +
                  "' is gaussian; the members' mixture is not one Gaussian (train a deep "
                  "ensemble for that)");
  }
  return tasks;
}

}  // namespace

// The mean over members of each member's mean loss is the mean loss over all K·B rows.
Trainer::BatchLoss batch_ensemble_loss(models::BatchEnsembleNet& net) {
  const std::vector<Task>& tasks = batch_ensemble_tasks(net, "batch_ensemble_loss");
  return [&net, &tasks](const Tensor& x, const std::vector<Tensor>& targets) {
    const std::vector<Tensor> outputs = net.forward(x);  // per task [K, B, out]
    std::vector<Tensor> losses;
    for (size_t t = 0; t < tasks.size(); ++t) {
      const int64_t members = outputs[t].size(0), rows = outputs[t].size(1);
      const Tensor repeated = reshape(expand(unsqueeze(targets[t], 0), {members, rows}), {-1});
      losses.push_back(
          models::task_loss(tasks[t], reshape(outputs[t], {members * rows, -1}), repeated));
    }
    return losses;
  };
}

models::Forward batch_ensemble_forward(models::BatchEnsembleNet& net) {
  const std::vector<Task>& tasks = batch_ensemble_tasks(net, "batch_ensemble_forward");
  return [&net, &tasks](const Tensor& x) {
    std::vector<Tensor> outputs = net.forward(x);  // per task [K, B, out] -> [B, out]
    for (size_t t = 0; t < tasks.size(); ++t) {
      outputs[t] = tasks[t].type == TaskType::regression ? models::average(outputs[t])
                                                         : models::soft_vote_logits(outputs[t]);
    }
    return outputs;
  };
}

}  // namespace ember::train
