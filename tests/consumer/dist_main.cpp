// A program that links ember::dist, built against an installed copy of the library: MPI
// starts as a single-process job (no launcher needed), and an all-reduce over that one
// process returns its own values.
#include <ember/dist/communicator.h>

#include <cstdio>
#include <exception>
#include <vector>

int main(int argc, char** argv) {
  try {
    ember::dist::Environment mpi(argc, argv);
    std::vector<float> values{1.f, 2.f};
    mpi.world().all_reduce_sum(std::span<float>(values));
    std::printf("ember dist consumer: %d process(es), all-reduce of [1, 2] = [%g, %g]\n",
                mpi.world().size(), values[0], values[1]);
    return values == std::vector<float>{1.f, 2.f} && mpi.world().size() == 1 ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("ember dist consumer: FAILED, %s\n", e.what());
    return 1;
  }
}
