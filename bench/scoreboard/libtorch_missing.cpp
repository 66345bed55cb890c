// The libtorch peer in a build without it: CMake did not find Torch (Debian: libtorch-dev).

#include <stdexcept>

#include "torch_peer.h"

namespace scoreboard {

std::unique_ptr<ReferencePeer> make_libtorch_peer(std::string& why_missing) {
  why_missing =
      "CMake found no Torch package when this benchmark was configured "
      "(Debian: apt-get install libtorch-dev, then reconfigure)";
  return nullptr;
}

void libtorch_train_steps(const Case&, int) {
  throw std::runtime_error("this bench_scoreboard was built without libtorch");
}

}  // namespace scoreboard
