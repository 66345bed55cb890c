#pragma once
// How many threads ember's large matrix products may use (like torch.set_num_threads).

namespace ember {

/// Caps the threads of large GEMMs at `threads` (>= 1; Error otherwise). Without OpenMP
/// ember is single-threaded and this only checks its argument.
void set_num_threads(int threads);
/// The current cap: OpenMP's default (the machine's cores, or OMP_NUM_THREADS) until set;
/// 1 without OpenMP.
int num_threads();

}  // namespace ember
