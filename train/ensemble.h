#pragma once
// Training an ensemble: the methods that decide what each member learns from, behind one
// entry point, and the predictions that need more than a member's forward (boosting's
// shrunken sum, the deep-ensemble mixture, MC dropout's samples). How finished members'
// outputs are combined is models/ensemble/combine.h.
//
//   models::Ensemble ensemble(5, [&](int64_t) { return models::MultiTaskNet(config); });
//   train::EnsembleOptions options{.method = train::EnsembleMethod::bagging,
//                                  .trainer = {.epochs = 40, .batch_size = 32}};
//   train::EnsembleHistory history =
//       train::fit_ensemble(ensemble, {models::regression("y")}, options, train_set);
//
// Datasets hold the inputs first and then one target per task, as for train::Trainer.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ember/core/tensor.h>
#include <ember/models/ensemble/batch_ensemble.h>
#include <ember/models/ensemble/ensemble.h>
#include <ember/models/task.h>
#include <ember/nn/dataset.h>
#include <ember/nn/module.h>
#include <ember/optim/optimizer.h>
#include <ember/train/trainer.h>

namespace ember::train {

/// How the members of an ensemble are trained (see fit_ensemble).
enum class EnsembleMethod {
  voting,             // independent members, each with its own seed
  bagging,            // voting, each member on a bootstrap sample of the training set
  fusion,             // one loss on the members' mean output, all trained as one model
  snapshot,           // one network, cosine annealing with restarts, a snapshot per cycle
  gradient_boosting,  // member m fits the residual of the shrunken sum of members before it
  deep_ensemble,      // voting under proper scoring rules, optionally with adversarial examples
};

/// "voting", "bagging", "fusion", "snapshot", "gradient_boosting", "deep_ensemble".
std::string to_string(EnsembleMethod method);
/// The method of that name. Throws Error naming the known methods for any other name.
EnsembleMethod ensemble_method(const std::string& name);

/// Makes the optimizer of a set of parameters (a member's, or the whole ensemble's).
using OptimizerFactory =
    std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor> parameters)>;
/// Adam (PyTorch's defaults otherwise) with this lr and weight decay.
OptimizerFactory adam_factory(double lr = 1e-3, double weight_decay = 0);
/// SGD with this lr, momentum and weight decay.
OptimizerFactory sgd_factory(double lr, double momentum = 0, double weight_decay = 0);

struct EnsembleOptions {
  EnsembleMethod method = EnsembleMethod::voting;
  /// Each member's Trainer options. For snapshot ensembles `epochs` is the whole run over
  /// all cycles; for the others it is per member.
  TrainerOptions trainer{};
  /// A new optimizer per member (per model for fusion, once for snapshot); Adam at lr 1e-3
  /// when empty.
  OptimizerFactory optimizer{};

  /// gradient_boosting: the shrinkage rate ν of each member's contribution. 1 is
  /// torchensemble's default; Friedman (2001) recommends ν ≤ 0.1 with more members.
  double shrinkage = 1.0;
  /// deep_ensemble: add the fast-gradient-sign adversarial loss (Lakshminarayanan et al.
  /// 2017, Section 2.3) with ε = adversarial_epsilon times each input feature's range on the
  /// training set (the paper's 0.01).
  bool adversarial = false;
  double adversarial_epsilon = 0.01;
  /// Called with each run's Trainer before it trains, and the run's name ("member_<k>",
  /// "fusion" or "cycle_<m>", as its checkpoint folder), e.g. to add callbacks or resume.
  std::function<void(const std::string& run, Trainer& trainer)> prepare_run{};

  /// Processes to spread the training over (train/process_group.h; null: this one alone).
  /// voting, bagging and deep_ensemble train member k on rank k mod size, alone as in one
  /// process, then gather every member's weights and run history on rank 0 (elsewhere the
  /// members trained on other ranks keep their initial weights and empty histories, and
  /// prepare_run is called for this rank's runs only). fusion, snapshot and
  /// gradient_boosting train their one model at a time data-parallel
  /// (Trainer::set_process_group). Every process must call fit_ensemble alike.
  ProcessGroup* group = nullptr;
};

/// What fit_ensemble did.
struct EnsembleHistory {
  /// One Trainer history per model trained: member k's for voting, bagging, boosting and
  /// deep ensembles; the one fused model's for fusion; cycle m's for snapshot.
  std::vector<History> runs;
  /// voting, bagging, deep_ensemble: the seed member k trained with (its shuffling, dropout
  /// and, for bagging, bootstrap sample). Training a copy of member k's initial weights
  /// alone after manual_seed(seeds[k]) gives the same weights.
  std::vector<uint64_t> seeds;
  /// snapshot: the learning rate of every optimizer step, in order.
  std::vector<double> learning_rates;
  /// gradient_boosting: after each stage m, the training loss (MSE, summed over the tasks)
  /// of the shrunken sum ν Σ_{j≤m} f_j.
  std::vector<double> stage_losses;
};

/// Trains `ensemble`'s members on `train` (inputs, then one target per task) by
/// `options.method`, in place, and returns the runs. `validation`, when given, is scored
/// after every epoch of every run (the Trainer's early stopping may use it).
///   voting          member k: a new Trainer and optimizer after manual_seed(seed_k), the
///                   seeds drawn first, one per member, from the calling thread's generator.
///   bagging         the same, on the rows bootstrap_indices(N, seed_k) of `train`.
///   fusion          one Trainer over all members' parameters whose forward is the mean of
///                   the members' outputs (logits for classification tasks).
///   snapshot        the last member is trained for `epochs`, in M = K cycles of epochs/K
///                   epochs, with the lr stepped after every batch along cosine annealing
///                   with warm restarts; at the end of cycle m its weights are copied into
///                   member m. Members must share one architecture.
///   gradient_boosting  member m fits, by MSE, the residual y − ν Σ_{j<m} f_j(x) on the
///                   training set; predict with boosted_outputs(). Regression tasks only.
///   deep_ensemble   as voting, optionally with adversarial training; regression tasks
///                   should be models::gaussian so that members predict a variance.
/// A run that stops by Ctrl-C (or Trainer::request_stop) stops the whole ensemble: the runs
/// after it do not start, and its History says `interrupted`. Resumed through prepare_run
/// (Trainer::resume on each run's checkpoint), the ensemble ends as the one never stopped.
/// Throws Error for an empty ensemble, datasets that do not fit the tasks, snapshot epochs
/// not divisible by K or with early stopping, a shrinkage outside (0, 1], a negative ε,
/// gradient boosting on a non-regression task, and whatever the Trainer throws.
EnsembleHistory fit_ensemble(models::Ensemble& ensemble, const std::vector<models::Task>& tasks,
                             const EnsembleOptions& options, const data::TensorDataset& train,
                             const data::TensorDataset* validation = nullptr);

/// N row indices drawn uniformly with replacement (Breiman 1996's bootstrap sample), as
/// floats [n], from a std::mt19937_64 seeded with `seed` (the thread's generator is left
/// untouched). About 1 − 1/e ≈ 63.2% of the rows appear at least once. Throws Error if n < 1
/// or n > 2^24 (floats hold larger indices inexactly).
Tensor bootstrap_indices(int64_t n, uint64_t seed);

/// Gradient boosting's prediction: per task ν Σ_m f_m(x), in eval mode without a graph.
/// Throws Error for an empty ensemble or a shrinkage outside (0, 1].
std::vector<Tensor> boosted_outputs(const models::Ensemble& ensemble, const Tensor& x,
                                    double shrinkage);

/// The deep-ensemble mixture (models::gaussian_mixture) of stacked gaussian-task member
/// outputs [K, B, 2] (see models::gaussian_mean_variance): mean and variance, each [B].
/// Throws Error unless `stacked` is [K, B, 2].
models::MeanVariance gaussian_mixture(const Tensor& stacked);

/// MC dropout (Gal & Ghahramani 2016): `samples` forward passes of one model with dropout
/// left on (train mode, no graph), stacked per task as [T, B, ...]. The model's mode is
/// restored afterwards. T = 20 by default. Throws Error if samples < 1.
std::vector<Tensor> mc_dropout_samples(nn::Module& model, const models::Forward& forward,
                                       const Tensor& x, int64_t samples = 20);
template <class M>
requires std::is_base_of_v<nn::Module, M> std::vector<Tensor> mc_dropout_samples(
    M& model, const Tensor& x, int64_t samples = 20) {
  return mc_dropout_samples(model, models::forward_of(model), x, samples);
}

/// BatchEnsemble (models::BatchEnsembleNet, Wen et al. 2020) trains as one model through a
/// Trainer with these two:
///   batch_ensemble_loss     every member's task loss on the whole batch (x [B, F] is each
///                           member's input), averaged over the members: per task, the loss
///                           of the outputs [K, B, out] as K·B rows against the targets
///                           repeated K times;
///   batch_ensemble_forward  for validation and prediction, per task the members' combined
///                           output: their mean (regression) or the soft vote as logits
///                           (models::soft_vote_logits; its cross entropy is the ensemble's NLL).
///
///   train::Trainer trainer(net, train::batch_ensemble_forward(net), net.config().tasks, adam);
///   trainer.set_batch_loss(train::batch_ensemble_loss(net));
///
/// The tasks are the network's own. `net` must outlive the results. Both throw Error for a
/// gaussian task (the members' mixture is not one Gaussian; train a deep ensemble for that).
Trainer::BatchLoss batch_ensemble_loss(models::BatchEnsembleNet& net);
models::Forward batch_ensemble_forward(models::BatchEnsembleNet& net);

}  // namespace ember::train
