#pragma once
// How many threads ember may use (like torch.set_num_threads): large matrix products split
// across them, and so do elementwise passes, reductions and optimizer updates over tensors of
// at least 1 Mi elements (kernels/cpu/parallel.h); smaller ones run on the calling thread.

namespace ember {

/// Caps ember's threads at `threads` (>= 1; Error otherwise). Without OpenMP, matrix products
/// run on one thread and the cap applies to the passes alone.
void set_num_threads(int threads);
/// The current cap: OpenMP's default (the machine's cores, or OMP_NUM_THREADS) until set;
/// 1 until set without OpenMP.
int num_threads();

}  // namespace ember
