#pragma once
// Saving and resuming training: an optimizer's state, and its scheduler's, in one
// safetensors file. Save the model beside it (Module::save) to resume exactly:
//
//   model.save("model.safetensors");
//   optim::save_state("optimizer.safetensors", adam, &scheduler);
//   ...
//   model.load("model.safetensors");               // in the resumed run, after building
//   optim::load_state("optimizer.safetensors", adam, &scheduler);  // all three as before

#include <string>

#include <ember/optim/optimizer.h>
#include <ember/optim/scheduler.h>

namespace ember::optim {

/// Writes `optimizer`'s state dict, and `scheduler`'s when given, to `path` as safetensors.
/// Each state buffer is a tensor named "param.<index>.<buffer>" (e.g. "param.0.exp_avg");
/// every number (options, step counts, the scheduler's values) is metadata text that reads
/// back exactly ("group.0.lr" = "0.001", "param.0.step" = "5", "scheduler.last_epoch" = "5").
/// The write is atomic, as save_safetensors's.
void save_state(const std::string& path, const Optimizer& optimizer,
                const Scheduler* scheduler = nullptr);

/// Restores a file written by save_state into `optimizer` (and `scheduler`), built the same
/// way as the ones saved: same kinds and arguments, parameters of the same shapes in the same
/// groups. Training then continues bit for bit as if never interrupted. Throws Error,
/// changing nothing, when the file is not such a state or does not fit (see
/// Optimizer::load_state_dict and Scheduler::load_state_dict), or holds no scheduler state
/// though `scheduler` is given. A scheduler state in the file is ignored without `scheduler`.
void load_state(const std::string& path, Optimizer& optimizer, Scheduler* scheduler = nullptr);

}  // namespace ember::optim
