#pragma once
// Seeded random tensors: the same seed gives the same values on every run and machine.
//
// Every thread draws from a generator of its own, so threads never race and a thread's
// values do not depend on what other threads draw. A thread that draws before calling
// manual_seed starts from a seed taken from a global seed source (which manual_seed reseeds);
// which thread takes which seed then depends on the order of their first draws, so a
// multi-threaded program that must be reproducible calls manual_seed in each thread.

#include <cstdint>
#include <string>

#include <ember/core/tensor.h>

namespace ember {

/// Seeds this thread's generator (a 32-bit Mersenne Twister, as PyTorch's CPU generator), and
/// the seed source of threads that have not drawn yet. The streams are ember's own: values
/// do not equal PyTorch's for the same seed.
void manual_seed(uint64_t seed);

/// Uniform samples in [low, high).
Tensor rand(const Shape& shape, bool requires_grad = false);
Tensor uniform(const Shape& shape, float low, float high, bool requires_grad = false);
/// Standard normal samples (Box-Muller), times `stddev` plus `mean` for `normal`.
Tensor randn(const Shape& shape, bool requires_grad = false);
Tensor normal(const Shape& shape, float mean, float stddev, bool requires_grad = false);

/// A random permutation of 0, 1, ..., n - 1 (as floats, shape [n]), like torch.randperm.
/// Throws Error if n < 0 or n > 2^24 (beyond it a float cannot hold every index exactly).
Tensor randperm(int64_t n);

/// One uniform sample in [0, 1) from this thread's generator (for dropout masks, shuffles).
float uniform_sample();

/// A 64-bit value from this thread's generator, to seed a generator of one's own (a shuffling
/// DataLoader, a split), so that manual_seed decides those streams too.
uint64_t next_seed();

/// This thread's generator's whole state as text, to save in a checkpoint.
std::string random_state();
/// Restores a state from random_state(): the generator continues exactly where it was.
/// Throws Error, changing nothing, if `state` is not such a text.
void set_random_state(const std::string& state);

}  // namespace ember
