#pragma once
// The libtorch peer (PyTorch's C++ API, linked into bench_scoreboard when CMake finds Torch),
// and the PyTorch-from-Python peer (bench/torch_peer.py in a child process).

#include <memory>
#include <string>

#include "cases.h"

namespace scoreboard {

/// libtorch, or nullptr with `why_missing` set when this build has none.
std::unique_ptr<ReferencePeer> make_libtorch_peer(std::string& why_missing);

/// libtorch's peak-memory child: trains the multitask case `c` for `steps` steps. Throws
/// std::runtime_error in a build without libtorch.
void libtorch_train_steps(const Case& c, int steps);

/// PyTorch from Python: `python` running `script`, or nullptr with `why_missing` set when it
/// does not start or cannot import torch.
std::unique_ptr<ReferencePeer> make_python_peer(const std::string& python,
                                                const std::string& script,
                                                std::string& why_missing);

}  // namespace scoreboard
