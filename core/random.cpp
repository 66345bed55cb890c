#include <ember/core/random.h>
#include <ember/error.h>

#include <cmath>
#include <mutex>
#include <numbers>
#include <random>
#include <sstream>
#include <utility>

namespace ember {

namespace {

// Each thread draws from a generator of its own rather than from one shared generator behind
// a lock. A lock would make concurrent draws safe but not reproducible: two threads building
// models at once would interleave their draws differently on every run. With one generator
// per thread, a thread that calls manual_seed gets exactly the stream a single-threaded
// program gets after the same call, whatever other threads do, and draws cost no locking.
//
// A thread that draws before seeding its generator takes a seed from the seed source below,
// which manual_seed reseeds; the mutex serialises only those first draws and manual_seed.
struct SeedSource {
  std::mutex mutex;
  std::mt19937_64 engine{0};
};

SeedSource& seed_source() {
  static SeedSource source;
  return source;
}

// A 64-bit seed spread over the generator's whole state through std::seed_seq, whose
// algorithm the standard fixes, so thread streams are the same with every standard library.
std::mt19937 generator_from_source() {
  uint64_t seed = 0;
  {
    SeedSource& source = seed_source();
    const std::lock_guard<std::mutex> lock(source.mutex);
    seed = source.engine();
  }
  std::seed_seq sequence{uint32_t(seed), uint32_t(seed >> 32)};
  return std::mt19937(sequence);
}

std::mt19937& generator() {
  thread_local std::mt19937 engine = generator_from_source();
  return engine;
}

// The top 24 bits fill a float's mantissa exactly, so every value is a multiple of 2^-24 in
// [0, 1). (std::uniform_real_distribution's algorithm differs between libraries.)
float uniform_sample(std::mt19937& engine) {
  return static_cast<float>(engine() >> 8) * (1.f / 16777216.f);
}

}  // namespace

void manual_seed(uint64_t seed) {
  generator().seed(static_cast<std::mt19937::result_type>(seed));
  SeedSource& source = seed_source();
  const std::lock_guard<std::mutex> lock(source.mutex);
  source.engine.seed(seed);
}

float uniform_sample() { return uniform_sample(generator()); }

uint64_t next_seed() {
  std::mt19937& engine = generator();
  const uint64_t high = engine();
  return (high << 32) | engine();
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
  std::mt19937& engine = generator();
  float* out = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = low + (high - low) * uniform_sample(engine);
  t.requires_grad_(requires_grad);
  return t;
}

Tensor rand(const Shape& shape, bool requires_grad) {
  return uniform(shape, 0.f, 1.f, requires_grad);
}

Tensor normal(const Shape& shape, float mean, float stddev, bool requires_grad) {
  if (!(stddev >= 0.f)) throw Error("normal: stddev must be >= 0, got " + std::to_string(stddev));
  Tensor t = empty(shape);
  std::mt19937& engine = generator();
  float* out = t.data();
  // Box-Muller: two uniforms give two independent standard normals.
  for (int64_t i = 0; i < t.numel(); i += 2) {
    const double u1 = 1.0 - uniform_sample(engine);  // in (0, 1], so log(u1) is finite
    const double u2 = uniform_sample(engine);
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    out[i] = static_cast<float>(mean + stddev * radius * std::cos(angle));
    if (i + 1 < t.numel())
      out[i + 1] = static_cast<float>(mean + stddev * radius * std::sin(angle));
  }
  t.requires_grad_(requires_grad);
  return t;
}

namespace {
// A uniform integer in [0, count), count > 0: draws that fall in the incomplete last block of
// `count` values are redrawn, so every value is equally likely (no modulo bias).
uint32_t uniform_index(std::mt19937& engine, uint32_t count) {
  const uint64_t range = uint64_t(1) << 32;
  const uint64_t limit = range - range % count;
  uint64_t draw = engine();
  while (draw >= limit) draw = engine();
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
  std::mt19937& engine = generator();
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(values[i], values[uniform_index(engine, static_cast<uint32_t>(i + 1))]);
  }
  return t;
}

Tensor randn(const Shape& shape, bool requires_grad) {
  return normal(shape, 0.f, 1.f, requires_grad);
}

}  // namespace ember
