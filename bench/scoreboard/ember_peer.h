#pragma once
// ember's side of the scoreboard: the cases of cases.h built from ember's modules, timed as
// users write them, and ember's own outputs, gradients and trajectories for the correctness
// check.

#include <memory>
#include <string>

#include "cases.h"

namespace scoreboard {

/// variant: "fused" (nn::mse_loss), "written" ((out - y).pow(2.f).mean(), multitask only),
/// "looped" (models::Ensemble, ensembles_k only) or "batched" (models::BatchedMLP,
/// ensembles_k only). Other combinations are not prepared.
std::unique_ptr<Peer> make_ember_peer(const std::string& variant);

/// The case's parameters (ember's init, from manual_seed(seed)), input and targets, named as
/// ReferencePeer::reference takes them.
Arrays ember_input(const Case& c, uint64_t seed);
/// What ReferencePeer::reference returns, computed by ember from ember_input(c, seed) with
/// the given variant.
Arrays ember_results(const Case& c, const std::string& variant, uint64_t seed);

/// Wall seconds of ember's whole runs: "seed_steps" {"steps"}, "deep_ensemble" {"members",
/// "epochs", "rows", "batch"}, "digits_multitask" {"epochs", "batch"}, "digits_ensemble"
/// {"members", "epochs", "batch"}. The digits are read before the clock starts.
double ember_whole_run(const std::string& name, const nlohmann::json& arguments);

/// Trains the multitask case `c` for `steps` steps; for the peak-memory child processes.
void ember_train_steps(const Case& c, int steps);

}  // namespace scoreboard
