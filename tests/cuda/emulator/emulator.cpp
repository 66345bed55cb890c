// The emulator's scheduler: one fiber per CUDA thread, barriers, deferred cp.async copies
// and warp-wide mma.sync. See emulator.h for what it models.

#include <ember/tests/cuda/emulator/emulator.h>

#include <ucontext.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember::emulator {

namespace {

constexpr std::size_t kStackBytes = 256 * 1024;
constexpr int kWarpSize = 32;

enum class State { ready, at_block_barrier, at_warp_barrier, finished };

struct Copy {
  float* dst;
  const float* src;
  int bytes, src_bytes;
};

struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack;
  uint3 index;
  int warp = 0, lane = 0;
  State state = State::ready;
  std::vector<Copy> open_group;              // issued since the last commit
  std::vector<std::vector<Copy>> committed;  // oldest first
  int mma_calls = 0;
};

// Fragments of one mma.sync call, as each lane passed them; two sets, used alternately, so
// that a lane may write the next call's while others still read this one's (see below).
struct MmaExchange {
  float c[kWarpSize][4];
  uint32_t a[kWarpSize][4];
  uint32_t b[kWarpSize][2];
};

struct Scheduler {
  std::vector<Fiber> fibers;
  std::vector<MmaExchange> exchanges;  // [warp * 2 + parity]
  std::vector<float> dynamic_shared;
  ucontext_t main_context;
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
  std::string error;
  std::mt19937_64 rng{1};
};

Scheduler& scheduler() {
  thread_local Scheduler instance;
  return instance;
}

void fail(const std::string& message) { throw std::runtime_error("cuda emulator: " + message); }

void fiber_main() {
  Scheduler& s = scheduler();
  try {
    (*s.body)();
  } catch (const std::exception& e) {
    if (s.error.empty()) s.error = e.what();
  }
  s.current->state = State::finished;
  // Returning resumes uc_link, the scheduler.
}

void yield(State state) {
  Scheduler& s = scheduler();
  Fiber* self = s.current;
  self->state = state;
  swapcontext(&self->context, &s.main_context);
}

void perform(const std::vector<Copy>& group) {
  for (const Copy& copy : group) {
    std::memset(copy.dst, 0, std::size_t(copy.bytes));
    std::memcpy(copy.dst, copy.src, std::size_t(copy.src_bytes));
  }
}

// Runs the threads of one block to completion.
void run_block(dim3 block) {
  Scheduler& s = scheduler();
  const int count = int(block.x * block.y * block.z);
  if (int(s.fibers.size()) < count) s.fibers.resize(std::size_t(count));
  const int warps = (count + kWarpSize - 1) / kWarpSize;
  s.exchanges.resize(std::size_t(warps) * 2);
  for (int t = 0; t < count; ++t) {
    Fiber& f = s.fibers[std::size_t(t)];
    if (!f.stack) f.stack = std::make_unique<char[]>(kStackBytes);
    f.index = {unsigned(t) % block.x, unsigned(t) / block.x % block.y,
               unsigned(t) / (block.x * block.y)};
    f.warp = t / kWarpSize;
    f.lane = t % kWarpSize;
    f.state = State::ready;
    f.open_group.clear();
    f.committed.clear();
    f.mma_calls = 0;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack.get();
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &s.main_context;
    makecontext(&f.context, fiber_main, 0);
  }
  // Poison dynamic shared memory: a kernel that reads what it never wrote sees NaN.
  std::fill(s.dynamic_shared.begin(), s.dynamic_shared.end(),
            std::numeric_limits<float>::quiet_NaN());

  std::vector<int> order(static_cast<std::size_t>(count));
  for (int t = 0; t < count; ++t) order[std::size_t(t)] = t;
  for (;;) {
    std::shuffle(order.begin(), order.end(), s.rng);
    bool ran = false;
    for (int t : order) {
      Fiber& f = s.fibers[std::size_t(t)];
      if (f.state != State::ready) continue;
      s.current = &f;
      threadIdx = f.index;
      swapcontext(&s.main_context, &f.context);
      ran = true;
      if (!s.error.empty()) return;
    }
    // Release barriers that everyone concerned has reached.
    int finished = 0, at_block_barrier = 0;
    for (int t = 0; t < count; ++t) {
      const State state = s.fibers[std::size_t(t)].state;
      finished += state == State::finished;
      at_block_barrier += state == State::at_block_barrier;
    }
    if (finished == count) return;
    bool released = false;
    if (at_block_barrier == count) {
      for (int t = 0; t < count; ++t) s.fibers[std::size_t(t)].state = State::ready;
      released = true;
    } else if (at_block_barrier > 0 && at_block_barrier + finished == count) {
      fail("__syncthreads() reached by " + std::to_string(at_block_barrier) + " of " +
           std::to_string(count) + " threads; the others exited");
    }
    for (int w = 0; w < warps; ++w) {
      const int first = w * kWarpSize, last = std::min(count, first + kWarpSize);
      bool all_there = true;
      for (int t = first; t < last; ++t) {
        all_there = all_there && s.fibers[std::size_t(t)].state == State::at_warp_barrier;
      }
      if (!all_there) continue;
      for (int t = first; t < last; ++t) s.fibers[std::size_t(t)].state = State::ready;
      released = true;
    }
    if (!ran && !released) fail("deadlock: threads wait at barriers that cannot complete");
  }
}

}  // namespace

void set_schedule_seed(uint64_t seed) { scheduler().rng.seed(seed); }

void launch(dim3 grid, dim3 block, int dynamic_shared_bytes, const std::function<void()>& body) {
  Scheduler& s = scheduler();
  s.body = &body;
  s.error.clear();
  s.dynamic_shared.assign(std::size_t(dynamic_shared_bytes) / sizeof(float) + 4, 0.f);
  gridDim = grid;
  blockDim = block;
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx = {x, y, z};
        run_block(block);
        if (!s.error.empty()) fail(s.error);
      }
    }
  }
}

void sync_threads() { yield(State::at_block_barrier); }

float* dynamic_shared_memory() {
  // 16-byte aligned, as the real one is.
  Scheduler& s = scheduler();
  auto address = reinterpret_cast<std::uintptr_t>(s.dynamic_shared.data());
  return s.dynamic_shared.data() + (16 - address % 16) % 16 / sizeof(float);
}

void copy_async(float* dst, const float* src, int bytes, int src_bytes) {
  if (src_bytes < 0 || src_bytes > bytes)
    fail("cp.async with src-size " + std::to_string(src_bytes));
  if (reinterpret_cast<std::uintptr_t>(dst) % std::uintptr_t(bytes) != 0 ||
      reinterpret_cast<std::uintptr_t>(src) % std::uintptr_t(bytes) != 0) {
    fail("cp.async of " + std::to_string(bytes) + " bytes from or to a misaligned address");
  }
  // Deferred: the data lands at the wait that covers this copy, the latest it may.
  scheduler().current->open_group.push_back({dst, src, bytes, src_bytes});
}

void commit_group() {
  Fiber& f = *scheduler().current;
  f.committed.push_back(std::move(f.open_group));
  f.open_group.clear();
}

void wait_group(int pending) {
  Fiber& f = *scheduler().current;
  while (int(f.committed.size()) > pending) {
    perform(f.committed.front());
    f.committed.erase(f.committed.begin());
  }
}

uint32_t to_tf32(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7f800000u) == 0x7f800000u) return bits;  // Inf and NaN stay as they are
  // Round to nearest on the 13 dropped bits, ties away from zero (cvt.rna): add half of
  // the last kept bit's weight to the magnitude, then truncate.
  return (bits + 0x1000u) & 0xffffe000u;
}

// The PTX ISA's fragment layout for mma.m16n8k8 .tf32 (g = lane / 4, t = lane % 4):
// a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4) as (row, k);
// b0 (t, g), b1 (t + 4, g) as (k, column); c and d: (g, 2t), (g, 2t + 1), (g + 8, 2t),
// (g + 8, 2t + 1) as (row, column).
void mma_tf32_16x8x8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  Scheduler& s = scheduler();
  Fiber& f = *s.current;
  // A lane writes set p again two calls later, after the next call's warp barrier, which no
  // lane passes before every lane has finished reading set p.
  MmaExchange& x = s.exchanges[std::size_t(f.warp * 2 + f.mma_calls % 2)];
  ++f.mma_calls;
  for (int r = 0; r < 4; ++r) x.c[f.lane][r] = d[r];
  for (int r = 0; r < 4; ++r) x.a[f.lane][r] = a[r];
  for (int r = 0; r < 2; ++r) x.b[f.lane][r] = b[r];
  yield(State::at_warp_barrier);

  // Tensor cores read only the TF32 bits of each operand.
  const auto value = [](uint32_t bits) {
    bits &= 0xffffe000u;
    float result;
    std::memcpy(&result, &bits, sizeof result);
    return result;
  };
  const auto a_at = [&](int row, int k) {
    return value(x.a[row % 8 * 4 + k % 4][(row >= 8 ? 1 : 0) + (k >= 4 ? 2 : 0)]);
  };
  const auto b_at = [&](int k, int col) { return value(x.b[col * 4 + k % 4][k >= 4 ? 1 : 0]); };
  const int g = f.lane / 4, t = f.lane % 4;
  for (int r = 0; r < 4; ++r) {
    const int row = g + (r >= 2 ? 8 : 0), col = 2 * t + (r & 1);
    float sum = x.c[row % 8 * 4 + col / 2][(col & 1) + (row >= 8 ? 2 : 0)];
    for (int k = 0; k < 8; ++k) sum = std::fma(a_at(row, k), b_at(k, col), sum);
    d[r] = sum;
  }
}

}  // namespace ember::emulator

namespace ember::kernels::cuda::detail {
void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("cuda emulator: ") + what + " failed with error " +
                             std::to_string(int(status)));
  }
}
}  // namespace ember::kernels::cuda::detail
