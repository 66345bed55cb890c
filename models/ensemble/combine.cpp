#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include <ember/core/autograd.h>
#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/ensemble/combine.h>
#include <ember/nn/loss.h>
#include <ember/optim/adam.h>

namespace ember::models {

namespace {

// K, checking that `stacked` is [K, B, ...] with K >= 1.
int64_t members_of(const Tensor& stacked, const std::string& op) {
  if (!stacked.defined()) throw Error(op + ": got an undefined tensor");
  if (stacked.dim() < 2) {
    throw Error(op + ": expects member outputs stacked as [K, B, ...], got shape " +
                to_string(stacked.shape()));
  }
  if (stacked.size(0) < 1) {
    throw Error(op + ": needs at least one member (K >= 1), got shape " +
                to_string(stacked.shape()));
  }
  return stacked.size(0);
}

// Whether classification logits are binary ([K, B] or [K, B, 1]) rather than [K, B, C].
bool is_binary(const Tensor& logits, const std::string& op) {
  members_of(logits, op);
  if (logits.dim() == 2 || (logits.dim() == 3 && logits.size(2) == 1)) return true;
  if (logits.dim() == 3) return false;
  throw Error(op + ": expects logits [K, B, C], [K, B, 1] or [K, B], got shape " +
              to_string(logits.shape()));
}

// Log-probabilities [K, B, C] of every member; a binary logit z is the two-class [0, z]
// (softmax([0, z]) = [1 - σ(z), σ(z)]), so binary and multiclass share the formulas below.
Tensor class_log_probabilities(const Tensor& logits, const std::string& op) {
  if (!is_binary(logits, op)) return log_softmax(logits, -1);
  const Tensor z = reshape(logits, {logits.size(0), logits.size(1), 1});
  return log_softmax(cat({zeros_like(z), z}, -1), -1);
}

// Every member's vote, label[k * B + b], from its argmax (first maximum on ties).
struct Votes {
  int64_t members = 0, samples = 0, classes = 0;
  std::vector<int64_t> label;
};

Votes votes_of(const Tensor& logits, const std::string& op) {
  const bool binary = is_binary(logits, op);
  Votes votes{logits.size(0), logits.size(1), binary ? 2 : logits.size(2), {}};
  const std::vector<float> values = logits.detach().to_vector();
  const int64_t width = binary ? 1 : votes.classes;
  for (int64_t row = 0; row < votes.members * votes.samples; ++row) {
    const float* z = values.data() + row * width;
    if (binary) {
      votes.label.push_back(z[0] > 0.f ? 1 : 0);  // σ(z) > 1/2; z = 0 is a tie, class 0
      continue;
    }
    int64_t best = 0;
    for (int64_t c = 1; c < width; ++c) {
      if (z[c] > z[best]) best = c;
    }
    votes.label.push_back(best);
  }
  return votes;
}

// The most voted class of sample b (the lowest index on ties) and its number of votes.
std::pair<int64_t, int64_t> mode_of(const Votes& votes, int64_t b) {
  std::vector<int64_t> counts(static_cast<size_t>(votes.classes), 0);
  for (int64_t k = 0; k < votes.members; ++k) {
    ++counts[static_cast<size_t>(votes.label[static_cast<size_t>(k * votes.samples + b)])];
  }
  int64_t best = 0;
  for (int64_t c = 1; c < votes.classes; ++c) {
    if (counts[static_cast<size_t>(c)] > counts[static_cast<size_t>(best)]) best = c;
  }
  return {best, counts[static_cast<size_t>(best)]};
}

// -Σ_c p_c log p_c over the last dim, from log p (finite for finite logits, so a p that
// underflows to 0 contributes 0 · log p = 0 instead of 0 · -inf).
Tensor entropy_from_log(const Tensor& log_p) { return -sum(exp(log_p) * log_p, {-1}); }

// log p̄ = log (1/K) Σ_k p_k = logsumexp_k(log p_k) − log K, logits -> [B, C] (binary: C = 2).
// No probability is exponentiated before the log, so p̄ = 0 (all members certain of another
// class) stays finite.
Tensor log_mean_probabilities(const Tensor& logits, const std::string& op) {
  const Tensor log_p = class_log_probabilities(logits, op);  // checks logits first: [K, B, C]
  return logsumexp(log_p, 0) - std::log(static_cast<float>(log_p.size(0)));
}

}  // namespace

Tensor average(const Tensor& outputs) {
  members_of(outputs, "average");
  return mean(outputs, {0});
}

// Σ_k w_k · output_k, with w reshaped to [K, 1, ..., 1] to broadcast over each output.
Tensor weighted_average(const Tensor& outputs, const Tensor& weights) {
  const int64_t members = members_of(outputs, "weighted_average");
  if (!weights.defined() || weights.dim() != 1 || weights.size(0) != members) {
    throw Error("weighted_average: weights must be [K] = [" + std::to_string(members) +
                "] for outputs " + to_string(outputs.shape()) + ", got " +
                (weights.defined() ? to_string(weights.shape()) : std::string("undefined")));
  }
  double total = 0;
  for (const float w : weights.detach().to_vector()) {
    if (!(w >= 0.f)) {
      throw Error("weighted_average: weights must be non-negative, got " + std::to_string(w));
    }
    total += w;
  }
  if (std::fabs(total - 1.0) > 1e-4) {
    throw Error("weighted_average: weights must sum to 1, got a sum of " + std::to_string(total));
  }
  Shape broadcast(static_cast<size_t>(outputs.dim()), 1);
  broadcast[0] = members;
  return sum(outputs * reshape(weights, broadcast), {0});
}

Tensor member_probabilities(const Tensor& logits) {
  return is_binary(logits, "member_probabilities") ? sigmoid(logits) : softmax(logits, -1);
}

Tensor soft_vote(const Tensor& logits) {
  is_binary(logits, "soft_vote");
  return mean(member_probabilities(logits), {0});
}

// log p̄; binary: the log-odds log p̄₁ − log p̄₀.
Tensor soft_vote_logits(const Tensor& logits) {
  const bool binary = is_binary(logits, "soft_vote_logits");
  const Tensor log_mean = log_mean_probabilities(logits, "soft_vote_logits");  // [B, C]
  if (!binary) return log_mean;
  const Tensor odds = narrow(log_mean, 1, 1, 1) - narrow(log_mean, 1, 0, 1);  // [B, 1]
  return logits.dim() == 2 ? reshape(odds, {logits.size(1)}) : odds;
}

Tensor weighted_soft_vote(const Tensor& logits, const Tensor& weights) {
  is_binary(logits, "weighted_soft_vote");
  return weighted_average(member_probabilities(logits), weights);
}

Tensor hard_vote(const Tensor& logits) {
  const Votes votes = votes_of(logits, "hard_vote");
  std::vector<float> labels;
  for (int64_t b = 0; b < votes.samples; ++b) {
    labels.push_back(static_cast<float>(mode_of(votes, b).first));
  }
  return tensor(labels, {votes.samples});
}

// The loss of the combined prediction as a function of log w, minimised over θ with
// w = softmax(θ). For regression it is MSE(Σ_k w_k o_k, y), a convex quadratic in w. For
// classification it is the mixture's NLL, -mean_i log Σ_k w_k p_k[y_i], evaluated as
// -mean_i logsumexp_k(log w_k + log p_k[y_i]) so no probability underflows; -log of a
// linear function of w is convex too.
Tensor fit_weights(const Tensor& outputs, const Tensor& targets, TaskType type,
                   const FitWeightsOptions& options) {
  const std::string op = "fit_weights";
  const int64_t members = members_of(outputs, op);
  if (options.steps < 1 || !(options.lr > 0)) {
    throw Error(op + ": needs steps >= 1 and lr > 0, got steps " + std::to_string(options.steps) +
                " and lr " + std::to_string(options.lr));
  }
  if (!targets.defined()) throw Error(op + ": got undefined targets");
  const Tensor fixed = outputs.detach();
  const int64_t samples = fixed.size(1);
  std::function<Tensor(const Tensor&)> loss_of_log_weights;
  if (type == TaskType::regression) {
    const Shape member_shape(fixed.shape().begin() + 1, fixed.shape().end());
    if (targets.numel() != fixed.numel() / members) {
      throw Error(op + ": targets " + to_string(targets.shape()) + " do not fit one member's " +
                  "output " + to_string(member_shape));
    }
    const Tensor target = reshape(targets.detach(), member_shape);
    Shape broadcast(static_cast<size_t>(fixed.dim()), 1);
    broadcast[0] = members;
    loss_of_log_weights = [fixed, target, broadcast](const Tensor& log_w) {
      return mse_loss(sum(fixed * reshape(exp(log_w), broadcast), {0}), target);
    };
  } else {
    if (targets.dim() != 1 || targets.size(0) != samples) {
      throw Error(op + ": labels must be [B] = [" + std::to_string(samples) + "], got " +
                  to_string(targets.shape()));
    }
    // picked[k, b] = log p_k[y_b]; nll_loss checks each label is an integer in [0, C).
    const Tensor log_p = class_log_probabilities(fixed, op);
    const int64_t classes = log_p.size(2);
    const Tensor labels = reshape(expand(reshape(targets.detach(), {1, samples}), {members, -1}),
                                  {members * samples});
    const Tensor picked = -reshape(nn::nll_loss(reshape(log_p, {members * samples, classes}),
                                                labels, {.reduction = Reduction::None}),
                                   {members, samples});
    loss_of_log_weights = [picked, members](const Tensor& log_w) {
      return -mean(logsumexp(reshape(log_w, {members, 1}) + picked, 0));
    };
  }
  // β2 = 0.9 rather than Adam's 0.999: the second moment then forgets the large early
  // gradients within ~10 steps, so steps stay near lr as the gradient shrinks on the way to a
  // weight of 0 (with 0.999 they shrink with it, and such a weight stalls near 1e-2).
  GradModeGuard grad_on(true);
  const Tensor theta = zeros({members}, /*requires_grad=*/true);
  optim::Adam adam({theta}, {.lr = options.lr, .betas = {0.9, 0.9}});
  for (int64_t step = 0; step < options.steps; ++step) {
    const double progress = static_cast<double>(step) / static_cast<double>(options.steps);
    adam.set_lr(0, options.lr * 0.5 * (1 + std::cos(std::numbers::pi * progress)));
    adam.zero_grad();
    loss_of_log_weights(log_softmax(theta, 0)).backward();
    adam.step();
  }
  return softmax(theta.detach(), 0);
}

std::vector<Tensor> combine(const Ensemble& ensemble, const Tensor& x,
                            const std::vector<Task>& tasks) {
  std::vector<Tensor> stacked = ensemble.stacked_outputs(x);
  if (stacked.size() != tasks.size()) {
    throw Error("combine: the ensemble gives " + std::to_string(stacked.size()) + " outputs for " +
                std::to_string(tasks.size()) + " tasks");
  }
  std::vector<Tensor> combined;
  for (size_t t = 0; t < tasks.size(); ++t) {
    combined.push_back(tasks[t].type == TaskType::regression ? average(stacked[t])
                                                             : soft_vote(stacked[t]));
  }
  return combined;
}

Tensor member_variance(const Tensor& outputs, bool unbiased) {
  const int64_t members = members_of(outputs, "member_variance");
  if (unbiased && members < 2) {
    throw Error("member_variance: the unbiased variance needs K >= 2 members, got " +
                std::to_string(members));
  }
  return var(outputs, {0}, unbiased);
}

Tensor predictive_entropy(const Tensor& logits) {
  return entropy_from_log(log_mean_probabilities(logits, "predictive_entropy"));
}

Tensor expected_entropy(const Tensor& logits) {
  return mean(entropy_from_log(class_log_probabilities(logits, "expected_entropy")), {0});
}

// I[y; member] = H[p̄] - mean_k H[p_k] (the BALD score, Houlsby et al. 2011; the
// total = aleatoric + epistemic split of Depeweg et al. 2018). It is >= 0 by Jensen's
// inequality (entropy is concave); the relu drops the float rounding that can make two
// equal entropies differ by -1e-7.
Tensor mutual_information(const Tensor& logits) {
  is_binary(logits, "mutual_information");
  return relu(predictive_entropy(logits) - expected_entropy(logits));
}

// The variation ratio (Freeman 1965; used for ensembles and MC dropout in Gal 2016, "Uncertainty
// in Deep Learning", §3.3.1): 1 - f_mode / K, with f_mode the votes of the hard vote's class.
Tensor disagreement(const Tensor& logits) {
  const Votes votes = votes_of(logits, "disagreement");
  std::vector<float> ratio;
  for (int64_t b = 0; b < votes.samples; ++b) {
    ratio.push_back(1.f - static_cast<float>(mode_of(votes, b).second) /
                              static_cast<float>(votes.members));
  }
  return tensor(ratio, {votes.samples});
}

// The disagreement measure of Skalak 1996, one of the pairwise diversity measures of Kuncheva
// & Whitaker 2003 ("Measures of diversity in classifier ensembles"); Fort et al. 2019 ("Deep
// Ensembles: A Loss Landscape Perspective") use it to compare members of deep ensembles.
Tensor pairwise_disagreement(const Tensor& logits) {
  const Votes votes = votes_of(logits, "pairwise_disagreement");
  if (votes.samples < 1) throw Error("pairwise_disagreement: needs at least one sample (B >= 1)");
  const int64_t K = votes.members, B = votes.samples;
  std::vector<float> fraction(static_cast<size_t>(K * K), 0.f);
  for (int64_t i = 0; i < K; ++i) {
    for (int64_t j = 0; j < K; ++j) {
      int64_t differ = 0;
      for (int64_t b = 0; b < B; ++b) {
        differ += votes.label[static_cast<size_t>(i * B + b)] !=
                  votes.label[static_cast<size_t>(j * B + b)];
      }
      fraction[static_cast<size_t>(i * K + j)] = static_cast<float>(differ) / static_cast<float>(B);
    }
  }
  return tensor(fraction, {K, K});
}

// Lakshminarayanan et al. 2017, "Simple and Scalable Predictive Uncertainty Estimation using
// Deep Ensembles", §2.4: the uniform mixture of N(μ_m, σ_m²) has mean μ* = mean_m μ_m and
// variance σ*² = mean_m (σ_m² + μ_m²) - μ*². Computed as the equal
// mean_m σ_m² + mean_m (μ_m - μ*)², which cannot cancel to a negative value in float.
MeanVariance gaussian_mixture(const Tensor& means, const Tensor& variances) {
  members_of(means, "gaussian_mixture");
  if (!variances.defined() || variances.shape() != means.shape()) {
    throw Error("gaussian_mixture: means " + to_string(means.shape()) + " and variances " +
                (variances.defined() ? to_string(variances.shape()) : std::string("undefined")) +
                " must have the same shape");
  }
  for (const float v : variances.detach().to_vector()) {
    if (!(v >= 0.f)) {
      throw Error("gaussian_mixture: variances must be non-negative, got " + std::to_string(v));
    }
  }
  const Tensor mixture_mean = mean(means, {0});
  return {mixture_mean, mean(variances, {0}) + mean(pow(means - mixture_mean, 2.f), {0})};
}

}  // namespace ember::models
