#pragma once
// Combining an ensemble's members into one prediction, and measuring the spread between them.
//
// Every function takes the members' outputs stacked along a leading dim of K >= 1 members,
// as Ensemble::stacked_outputs gives them:
//   regression outputs      [K, B, ...];
//   classification logits   [K, B, C] with C >= 2 classes (softmax), or for a binary task
//                           [K, B, 1] or [K, B]: one logit z each (sigmoid), read as the
//                           two-class logits [0, z] wherever a distribution is needed.
// The combined values are built from differentiable ops, so a loss on them (fusion training)
// backpropagates into every member. Labels (hard_vote) and vote counts (disagreement) are
// plain numbers, not differentiable.
//
// Every function throws Error naming itself for an undefined tensor, K < 1, logits of the
// wrong rank, or weights and targets that do not fit the outputs.
//
//   std::vector<Tensor> logits = ensemble.stacked_outputs(x);   // task 0: [K, B, C]
//   Tensor probabilities = models::soft_vote(logits[0]);        // [B, C]
//   Tensor epistemic = models::mutual_information(logits[0]);   // [B]

#include <cstdint>
#include <vector>

#include <ember/core/tensor.h>
#include <ember/models/ensemble/ensemble.h>
#include <ember/models/task.h>

namespace ember::models {

// -- combining rules -------------------------------------------------------------------------

/// Mean over members (regression): outputs [K, B, ...] -> [B, ...].
Tensor average(const Tensor& outputs);

/// Σ_k w_k · output_k: outputs [K, B, ...], weights [K], each >= 0, summing to 1 within
/// 1e-4 -> [B, ...]. Differentiable in both.
Tensor weighted_average(const Tensor& outputs, const Tensor& weights);

/// Each member's class probabilities: softmax over C for logits [K, B, C], sigmoid (the
/// probability of class 1, same shape) for binary logits [K, B, 1] or [K, B].
Tensor member_probabilities(const Tensor& logits);

/// Soft voting: the mean of the members' probabilities, average(member_probabilities).
/// [K, B, C] -> [B, C]; binary [K, B, 1] -> [B, 1] (or [K, B] -> [B]): P(class 1).
Tensor soft_vote(const Tensor& logits);

/// The soft vote as logits, for temperature scaling an ensemble (calibration.h): the log of
/// the mean probability, logsumexp_k(log p_k) − log K, computed in log space so that no class
/// probability underflows to log 0. [K, B, C] -> [B, C]; binary [K, B, 1] -> [B, 1] (or
/// [K, B] -> [B]): the log-odds log p̄ − log(1 − p̄). softmax (binary: sigmoid) of the result
/// is soft_vote(logits); for one member it equals the member's logits up to a constant per
/// row, which softmax ignores.
Tensor soft_vote_logits(const Tensor& logits);

/// Weighted soft voting: weighted_average(member_probabilities(logits), weights).
Tensor weighted_soft_vote(const Tensor& logits, const Tensor& weights);

/// Hard voting: each member votes for its argmax class (binary: class 1 when z > 0), and
/// each sample gets the class with the most votes. Ties, between a member's logits or
/// between vote counts, go to the lowest class index. logits -> labels [B] (floats).
Tensor hard_vote(const Tensor& logits);

/// How fit_weights searches the simplex.
struct FitWeightsOptions {
  int64_t steps = 300;  // Adam steps
  double lr = 0.1;      // initial Adam learning rate, cosine-annealed to 0 over the steps
};

/// Weights [K] for weighted_average / weighted_soft_vote that minimise the validation loss
/// of the combined prediction: MSE for regression, the mixture's NLL
/// -mean_i log Σ_k w_k p_k[y_i] for classification. Both are convex in w, so the only
/// minimum on the simplex is the global one. w = softmax(θ) keeps the weights on the simplex;
/// θ starts at 0 (equal weights) and takes `options.steps` Adam steps (β = (0.9, 0.9), lr
/// cosine-annealed, so it settles instead of circling the minimum). A member that should get weight
/// 0 gets one that is small but positive. outputs: regression [K, B, ...] with targets of one
/// member's output's numel (e.g. [B] or [B, 1]); classification logits as above with targets labels
/// [B] in [0, C). The outputs are read detached. Throws Error for mismatched sizes, labels out of
/// range, steps < 1, lr <= 0.
Tensor fit_weights(const Tensor& outputs, const Tensor& targets, TaskType type,
                   const FitWeightsOptions& options = {});

/// Combines an ensemble's outputs for `x` per task: regression by average, binary and
/// multiclass by soft_vote (probabilities). Throws Error when the ensemble gives a number of
/// outputs other than tasks.size().
std::vector<Tensor> combine(const Ensemble& ensemble, const Tensor& x,
                            const std::vector<Task>& tasks);

// -- spread between members ------------------------------------------------------------------

/// Variance over members (regression): outputs [K, B, ...] -> [B, ...]. The population
/// variance (divide by K) by default, the spread of the equally weighted mixture and the
/// σ_m = 0 case of gaussian_mixture; `unbiased` divides by K - 1 as torch.var does by
/// default (Error when K = 1).
Tensor member_variance(const Tensor& outputs, bool unbiased = false);

/// Predictive (total) entropy H[p̄] = -Σ_c p̄_c log p̄_c of the soft vote p̄ = mean_k p_k,
/// in nats. logits -> [B].
Tensor predictive_entropy(const Tensor& logits);

/// Expected (aleatoric) entropy mean_k H[p_k], the members' mean own entropy. logits -> [B].
Tensor expected_entropy(const Tensor& logits);

/// Mutual information (epistemic part) predictive_entropy - expected_entropy, >= 0 (Jensen),
/// 0 when every member predicts the same distribution. logits -> [B].
Tensor mutual_information(const Tensor& logits);

/// Per sample, the fraction of members whose vote differs from the hard vote: the variation
/// ratio 1 - f_mode / K. 0 when all agree. logits -> [B] (not differentiable).
Tensor disagreement(const Tensor& logits);

/// Pairwise disagreement d_ij: the fraction of samples on which members i and j vote for
/// different classes. logits -> [K, K], symmetric, zero diagonal (not differentiable).
Tensor pairwise_disagreement(const Tensor& logits);

/// A deep ensemble's Gaussian mixture collapsed to one Gaussian:
/// μ* = mean_m μ_m and σ*² = mean_m (σ_m² + μ_m²) - μ*².
/// means and variances [K, B, ...] (same shape, variances >= 0) -> each [B, ...].
MeanVariance gaussian_mixture(const Tensor& means, const Tensor& variances);

}  // namespace ember::models
