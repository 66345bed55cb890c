// The hand-written kernels, compiled from their own source for the CPU emulator, checked
// against the float64 reference on every machine, GPU or not. Buffers end at a guard page,
// so a read or write past a matrix crashes the test instead of passing unnoticed.

#include <ember/tests/cuda/gemm_cases.h>
#include <ember/kernels/cuda/kernels.cuh>

#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <stdexcept>

namespace {

using ember::kernels::cuda::GemmKernel;
using ember::kernels::cuda::kernel_name;
using namespace ember::test;

// The kernels this emulator can run (cuBLAS it cannot).
const GemmKernel kHandWritten[] = {GemmKernel::naive,        GemmKernel::coalesced,
                                   GemmKernel::shared_tiled, GemmKernel::blocktile_1d,
                                   GemmKernel::blocktile_2d, GemmKernel::vectorized,
                                   GemmKernel::warptile,     GemmKernel::tf32};

// A copy of `values` placed so that it ends (up to 12 bytes of 16-byte alignment) right
// before an inaccessible page, and starts 16-byte aligned.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(const std::vector<float>& values) {
    const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
    const std::size_t bytes = (values.size() * sizeof(float) + 15) / 16 * 16;
    pages_ = (bytes + page - 1) / page * page + page;
    void* memory =
        mmap(nullptr, pages_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::runtime_error("mmap failed");
    memory_ = static_cast<char*>(memory);
    char* guard = memory_ + pages_ - page;
    if (mprotect(guard, page, PROT_NONE) != 0) throw std::runtime_error("mprotect failed");
    data_ = reinterpret_cast<float*>(guard - bytes);
    if (!values.empty()) std::memcpy(data_, values.data(), values.size() * sizeof(float));
    size_ = values.size();
  }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;
  ~GuardedBuffer() { munmap(memory_, pages_); }

  float* data() { return data_; }
  std::vector<float> values() const { return std::vector<float>(data_, data_ + size_); }

 private:
  char* memory_ = nullptr;
  std::size_t pages_ = 0, size_ = 0;
  float* data_ = nullptr;
};

// Runs `kernel` on the case under the emulator and returns C's buffer afterwards.
std::vector<float> run_emulated(GemmKernel kernel, const GemmCase& c, const GemmInputs& in) {
  GuardedBuffer a(in.a), b(in.b), out(in.c), bias(in.bias);
  const auto problem = ember::kernels::cuda::detail::make_problem(
      c.trans_a, c.trans_b, c.M, c.N, c.K, c.alpha, a.data() + c.offset_a, c.lda,
      b.data() + c.offset_b, c.ldb, c.beta, out.data() + c.offset_c, c.ldc,
      c.bias ? bias.data() : nullptr);
  ember::kernels::cuda::detail::launch(kernel, problem, nullptr);
  return out.values();
}

bool is_tf32(GemmKernel kernel) { return kernel == GemmKernel::tf32; }

// Shapes up to 140: past the 128-wide tiles and a second tile, and fast enough on a CPU.
constexpr int kShapes = 7;
constexpr int64_t kMaxSize = 140;

}  // namespace

TEST_CASE("emulated kernels match a float64 reference on edge shapes, layouts and strides",
          "[cuda][emulator]") {
  ember::emulator::set_schedule_seed(1);
  const std::vector<GemmCase> cases = gemm_cases(/*seed=*/7, kShapes, kMaxSize);
  for (GemmKernel kernel : kHandWritten) {
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const GemmCase& c = cases[i];
      const GemmInputs in = make_inputs(c, Values::uniform, /*seed=*/100 + i);
      const std::string problem = compare(c, reference(c, in), run_emulated(kernel, c, in),
                                          tolerance(c.K, is_tf32(kernel)));
      if (!problem.empty())
        FAIL_CHECK(kernel_name(kernel) << ": " << c.describe() << ": " << problem);
    }
  }
}

TEST_CASE("emulated kernels give exact results on integer inputs", "[cuda][emulator]") {
  ember::emulator::set_schedule_seed(2);
  std::vector<GemmCase> cases = gemm_cases(/*seed=*/8, kShapes, kMaxSize);
  for (GemmCase& c : cases) {
    c.alpha = 2.f;
    c.beta = -3.f;
  }
  for (GemmKernel kernel : kHandWritten) {
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const GemmCase& c = cases[i];
      const GemmInputs in = make_inputs(c, Values::integers, /*seed=*/200 + i);
      const std::string problem = compare(c, reference(c, in), run_emulated(kernel, c, in), 0.0);
      if (!problem.empty())
        FAIL_CHECK(kernel_name(kernel) << ": " << c.describe() << ": " << problem);
    }
  }
}

TEST_CASE("emulated kernels with beta = 0 never read C, which may hold NaN", "[cuda][emulator]") {
  ember::emulator::set_schedule_seed(3);
  std::vector<GemmCase> cases = gemm_cases(/*seed=*/9, 3, kMaxSize);
  for (GemmKernel kernel : kHandWritten) {
    for (std::size_t i = 0; i < cases.size(); ++i) {
      GemmCase c = cases[i];
      c.beta = 0.f;
      GemmInputs in = make_inputs(c, Values::uniform, /*seed=*/300 + i);
      for (int64_t m = 0; m < c.M; ++m) {
        for (int64_t n = 0; n < c.N; ++n) {
          in.c[std::size_t(c.c_index(m, n))] = std::numeric_limits<float>::quiet_NaN();
        }
      }
      const std::string problem = compare(c, reference(c, in), run_emulated(kernel, c, in),
                                          tolerance(c.K, is_tf32(kernel)));
      if (!problem.empty())
        FAIL_CHECK(kernel_name(kernel) << ": " << c.describe() << ": " << problem);
    }
  }
}

// The emulator earns its keep only if it catches what a GPU would: these kernels are wrong
// on purpose, and must fail under it.
namespace {

constexpr int kThreads = 64;

// Each thread publishes a value and reads its neighbour's, without the barrier between.
void missing_barrier_kernel(int generation, int* out) {
  __shared__ int published[kThreads];
  const int t = int(threadIdx.x);
  published[t] = generation * 1000 + t;
  out[t] = published[(t + 1) % kThreads];  // a __syncthreads() belongs before this read
}

// Each thread copies a value with cp.async and reads it back without waiting.
void missing_wait_kernel(const float* in, float* out) {
  __shared__ float staged[kThreads];
  const int t = int(threadIdx.x);
  staged[t] = -1.f;
  ember::kernels::cuda::detail::cp_async_4(&staged[t], &in[t], 4);
  ember::kernels::cuda::detail::cp_async_commit();
  out[t] = staged[t];  // cp_async_wait<0>() belongs before this read
  ember::kernels::cuda::detail::cp_async_wait<0>();
}

}  // namespace

TEST_CASE("the emulator catches a missing __syncthreads and a missing cp.async wait",
          "[cuda][emulator]") {
  ember::emulator::set_schedule_seed(4);
  std::vector<int> out(kThreads);
  bool stale_read = false;
  for (int generation = 1; generation <= 4; ++generation) {
    ember::emulator::launch(dim3(1), dim3(kThreads), 0,
                            [&] { missing_barrier_kernel(generation, out.data()); });
    for (int t = 0; t < kThreads; ++t) {
      stale_read = stale_read || out[std::size_t(t)] != generation * 1000 + (t + 1) % kThreads;
    }
  }
  CHECK(stale_read);

  std::vector<float> in(kThreads, 7.f), copied(kThreads, 0.f);
  ember::emulator::launch(dim3(1), dim3(kThreads), 0,
                          [&] { missing_wait_kernel(in.data(), copied.data()); });
  CHECK(copied[0] == -1.f);
}

TEST_CASE("the emulator's TF32 rounding is round to nearest, ties away from zero",
          "[cuda][emulator]") {
  const auto round = [](float x) {
    const uint32_t bits = ember::emulator::to_tf32(x);
    float result;
    std::memcpy(&result, &bits, sizeof result);
    return result;
  };
  CHECK(round(1.f) == 1.f);
  CHECK(round(1.f + std::ldexp(1.f, -11)) == 1.f + std::ldexp(1.f, -10));  // a tie: away
  CHECK(round(1.f + std::ldexp(1.f, -12)) == 1.f);                         // below half: down
  CHECK(round(-1.f - std::ldexp(1.f, -11)) == -1.f - std::ldexp(1.f, -10));
  CHECK(std::isinf(round(std::numeric_limits<float>::infinity())));
  CHECK(std::isnan(round(std::numeric_limits<float>::quiet_NaN())));
}
