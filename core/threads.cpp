#include <ember/core/threads.h>
#include <ember/error.h>
#include <ember/kernels/cpu/parallel.h>

#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ember {

void set_num_threads(int threads) {
  if (threads < 1)
    throw Error("set_num_threads: needs at least 1 thread, got " + std::to_string(threads));
#ifdef _OPENMP
  omp_set_num_threads(threads);
#else
  kernels::cpu::detail::set_pass_threads(threads);
#endif
}

int num_threads() { return int(kernels::cpu::detail::pass_threads()); }

}  // namespace ember
