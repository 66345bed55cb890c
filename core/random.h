#pragma once
// Seeded random tensors: the same seed gives the same values on every run and machine.

#include <cstdint>
#include <string>

#include <ember/core/tensor.h>

namespace ember {

/// Seeds the global generator (a 32-bit Mersenne Twister, as PyTorch's CPU generator).
/// The streams are ember's own: values do not equal PyTorch's for the same seed.
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

/// One uniform sample in [0, 1) from the global generator (for dropout masks, shuffles).
float uniform_sample();

/// A 64-bit value from the global generator, to seed a generator of one's own (a shuffling
/// DataLoader, a split), so that manual_seed decides those streams too.
uint64_t next_seed();

/// The global generator's whole state as text, to save in a checkpoint.
std::string random_state();
/// Restores a state from random_state(): the generator continues exactly where it was.
/// Throws Error, changing nothing, if `state` is not such a text.
void set_random_state(const std::string& state);

}  // namespace ember
