#include <ember/core/random.h>
#include <ember/error.h>

#include <cmath>
#include <numbers>
#include <random>
#include <sstream>
#include <utility>

namespace ember {

namespace {
std::mt19937& generator() {
  static std::mt19937 engine(0);
  return engine;
}
}  // namespace

void manual_seed(uint64_t seed) { generator().seed(static_cast<std::mt19937::result_type>(seed)); }

float uniform_sample() {
  // The top 24 bits fill a float's mantissa exactly, so every value is a multiple of 2^-24
  // in [0, 1). (std::uniform_real_distribution's algorithm differs between libraries.)
  return static_cast<float>(generator()() >> 8) * (1.f / 16777216.f);
}

uint64_t next_seed() {
  const uint64_t high = generator()();
  return (high << 32) | generator()();
}

std::string random_state() {
  std::ostringstream text;
  text << generator();
  return text.str();
}

void set_random_state(const std::string& state) {
  std::istringstream text(state);
  std::mt19937 restored;
  text >> restored;
  char extra = 0;
  if (text.fail() || text >> extra) {
    throw Error("set_random_state: not a state from random_state() (" +
                std::to_string(state.size()) + " characters)");
  }
  generator() = restored;
}

Tensor uniform(const Shape& shape, float low, float high, bool requires_grad) {
  if (!(low <= high)) {
    throw Error("uniform: low " + std::to_string(low) + " must not exceed high " +
                std::to_string(high));
  }
  Tensor t = empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = low + (high - low) * uniform_sample();
  return t.requires_grad_(requires_grad);
}

Tensor rand(const Shape& shape, bool requires_grad) {
  return uniform(shape, 0.f, 1.f, requires_grad);
}

Tensor normal(const Shape& shape, float mean, float stddev, bool requires_grad) {
  if (!(stddev >= 0.f)) throw Error("normal: stddev must be >= 0, got " + std::to_string(stddev));
  Tensor t = empty(shape);
  float* out = t.data();
  // Box-Muller: two uniforms give two independent standard normals.
  for (int64_t i = 0; i < t.numel(); i += 2) {
    const double u1 = 1.0 - uniform_sample();  // in (0, 1], so log(u1) is finite
    const double u2 = uniform_sample();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    out[i] = static_cast<float>(mean + stddev * radius * std::cos(angle));
    if (i + 1 < t.numel())
      out[i + 1] = static_cast<float>(mean + stddev * radius * std::sin(angle));
  }
  return t.requires_grad_(requires_grad);
}

namespace {
// A uniform integer in [0, count), count > 0: draws that fall in the incomplete last block of
// `count` values are redrawn, so every value is equally likely (no modulo bias).
uint32_t uniform_index(uint32_t count) {
  const uint64_t range = uint64_t(1) << 32;
  const uint64_t limit = range - range % count;
  uint64_t draw = generator()();
  while (draw >= limit) draw = generator()();
  return static_cast<uint32_t>(draw % count);
}
}  // namespace

// Fisher-Yates: position i swaps with a uniform position in [0, i].
Tensor randperm(int64_t n) {
  constexpr int64_t kExactFloats = int64_t(1) << 24;
  if (n < 0 || n > kExactFloats) {
    throw Error("randperm: n must be in [0, 2^24] (" + std::to_string(kExactFloats) + "), got " +
                std::to_string(n));
  }
  Tensor t = empty({n});
  float* values = t.data();
  for (int64_t i = 0; i < n; ++i) values[i] = static_cast<float>(i);
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(values[i], values[uniform_index(static_cast<uint32_t>(i + 1))]);
  }
  return t;
}

Tensor randn(const Shape& shape, bool requires_grad) {
  return normal(shape, 0.f, 1.f, requires_grad);
}

}  // namespace ember
