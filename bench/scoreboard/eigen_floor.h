#pragma once
// The floor: the multitask and ensembles_k cases (cases.h) coded directly with Eigen: forward,
// loss, backward and optimizer step by hand, no autograd, every buffer allocated once (the
// ensemble in its batched form: every member's first layer in one GEMM). What is left of ember's
// time above this is framework overhead. Compiled for this machine (-march=native -mtune=generic),
// with Eigen's own GEMM (OpenMP threads for large products).

#include <memory>

#include "cases.h"

namespace scoreboard {

/// Runs multitask and ensembles_k cases; prepare() says false for the others.
std::unique_ptr<Peer> make_eigen_floor_peer();

/// What ReferencePeer::reference returns, computed by the floor from the same input, so that
/// the floor is checked like everyone else.
Arrays eigen_floor_results(const Case& c, const Arrays& input);

}  // namespace scoreboard
