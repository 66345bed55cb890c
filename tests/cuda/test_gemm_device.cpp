// Every kernel, on a device, against a float64 reference: random and edge shapes, all four
// transpose combinations, ragged strides, alpha and beta not 0 or 1, fused bias. Without a
// device each test warns that it is skipped and passes.

#include <ember/kernels/cuda/gemm.h>
#include <ember/tests/cuda/device.h>
#include <ember/tests/cuda/gemm_cases.h>

#include <catch2/catch.hpp>

#include <limits>

namespace {

using ember::kernels::cuda::GemmKernel;
using ember::kernels::cuda::GemmOptions;
using ember::kernels::cuda::kernel_name;
using ember::kernels::cuda::uses_tf32;
using namespace ember::test;

// The kernels under test: every one, and automatic selection (float32).
std::vector<GemmKernel> kernels_under_test() {
  std::vector<GemmKernel> kernels(std::begin(ember::kernels::cuda::all_gemm_kernels),
                                  std::end(ember::kernels::cuda::all_gemm_kernels));
  kernels.push_back(GemmKernel::automatic);
  return kernels;
}

// Runs one kernel on the case and returns C's buffer afterwards. C's buffer is refilled
// from `in` first, so no run sees another's output. Every CUDA call and the launch are
// checked, and the device synchronised so that asynchronous errors surface here.
std::vector<float> run_on_device(GemmKernel kernel, const GemmCase& c, const GemmInputs& in) {
  DeviceBuffer a(in.a), b(in.b), out(in.c), bias(in.bias);
  GemmOptions options;
  options.kernel = kernel;
  options.bias = c.bias ? bias.data() : nullptr;
  ember::kernels::cuda::gemm(c.trans_a, c.trans_b, c.M, c.N, c.K, c.alpha, a.data() + c.offset_a,
                             c.lda, b.data() + c.offset_b, c.ldb, c.beta, out.data() + c.offset_c,
                             c.ldc, options);
  EMBER_CUDA_CHECK(cudaGetLastError());
  EMBER_CUDA_CHECK(cudaDeviceSynchronize());
  return out.read();
}

// Runs every kernel on every case; each failure names the kernel, the case and the element.
void check_all(const std::vector<GemmCase>& cases, Values values, bool exact, bool poison_c) {
  for (GemmKernel kernel : kernels_under_test()) {
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const GemmCase& c = cases[i];
      GemmInputs in = make_inputs(c, values, /*seed=*/1000 + i);
      if (poison_c) {
        for (int64_t m = 0; m < c.M; ++m) {
          for (int64_t n = 0; n < c.N; ++n) {
            in.c[std::size_t(c.c_index(m, n))] = std::numeric_limits<float>::quiet_NaN();
          }
        }
      }
      const double allowed = exact ? 0.0 : tolerance(c.K, uses_tf32(kernel));
      const std::string problem =
          compare(c, reference(c, in), run_on_device(kernel, c, in), allowed);
      if (!problem.empty())
        FAIL_CHECK(kernel_name(kernel) << ": " << c.describe() << ": " << problem);
    }
  }
}

// 40 shapes with sides up to 300, each in 4 transpose combinations.
constexpr int kShapes = 40;
constexpr int64_t kMaxSize = 300;

}  // namespace

TEST_CASE("every CUDA kernel matches a float64 reference within its rounding bound", "[cuda]") {
  EMBER_REQUIRE_CUDA_DEVICE();
  check_all(gemm_cases(/*seed=*/1, kShapes, kMaxSize), Values::uniform, /*exact=*/false,
            /*poison_c=*/false);
}

TEST_CASE("every CUDA kernel is exact on integer inputs", "[cuda]") {
  EMBER_REQUIRE_CUDA_DEVICE();
  std::vector<GemmCase> cases = gemm_cases(/*seed=*/2, kShapes / 2, kMaxSize);
  for (GemmCase& c : cases) {
    c.alpha = 2.f;  // integers, so every step stays exact
    c.beta = -3.f;
  }
  check_all(cases, Values::integers, /*exact=*/true, /*poison_c=*/false);
}

TEST_CASE("CUDA kernels with beta = 0 write every element and never read C", "[cuda]") {
  EMBER_REQUIRE_CUDA_DEVICE();
  std::vector<GemmCase> cases = gemm_cases(/*seed=*/3, kShapes / 2, kMaxSize);
  for (GemmCase& c : cases) c.beta = 0.f;
  // C starts as NaN: an element left unwritten, or read, shows up.
  check_all(cases, Values::uniform, /*exact=*/false, /*poison_c=*/true);
}

TEST_CASE("CUDA gemm serves the linear layer: y = x·Wᵀ + b, dx = dy·W, dW += dyᵀ·x", "[cuda]") {
  EMBER_REQUIRE_CUDA_DEVICE();
  const int64_t batch = 37, in = 19, out = 11;
  GemmCase forward;  // x: [batch, in], W: [out, in] -> y: [batch, out]
  forward.trans_b = true;
  forward.M = batch, forward.N = out, forward.K = in;
  forward.lda = in, forward.ldb = in, forward.ldc = out;
  forward.beta = 0.f;
  forward.bias = true;
  GemmCase input_grad;  // dy: [batch, out], W: [out, in] -> dx: [batch, in]
  input_grad.M = batch, input_grad.N = in, input_grad.K = out;
  input_grad.lda = out, input_grad.ldb = in, input_grad.ldc = in;
  input_grad.beta = 0.f;
  GemmCase weight_grad;  // dy: [batch, out], x: [batch, in] -> dW: [out, in], accumulated
  weight_grad.trans_a = true;
  weight_grad.M = out, weight_grad.N = in, weight_grad.K = batch;
  weight_grad.lda = out, weight_grad.ldb = in, weight_grad.ldc = in;
  weight_grad.beta = 1.f;
  check_all({forward, input_grad, weight_grad}, Values::uniform, /*exact=*/false,
            /*poison_c=*/false);
}

TEST_CASE("CUDA gemm with an empty sum or alpha = 0 gives beta·C + bias without reading A or B",
          "[cuda]") {
  EMBER_REQUIRE_CUDA_DEVICE();
  GemmCase c;
  c.M = 5, c.N = 7, c.ldc = 9, c.beta = -0.5f, c.bias = true;
  for (const int64_t K : {0, 3}) {
    c.K = K;
    c.lda = K > 0 ? K : 1, c.ldb = 7;
    c.alpha = K == 0 ? 1.5f : 0.f;
    // A and B hold NaN where they exist: reading them would spoil the result.
    GemmInputs in = make_inputs(c, Values::uniform, 5);
    std::fill(in.a.begin(), in.a.end(), std::numeric_limits<float>::quiet_NaN());
    std::fill(in.b.begin(), in.b.end(), std::numeric_limits<float>::quiet_NaN());
    GemmInputs finite = in;
    std::fill(finite.a.begin(), finite.a.end(), 0.f);
    std::fill(finite.b.begin(), finite.b.end(), 0.f);
    for (GemmKernel kernel : kernels_under_test()) {
      const std::string problem =
          compare(c, reference(c, finite), run_on_device(kernel, c, in), tolerance(0, false));
      if (!problem.empty())
        FAIL_CHECK(kernel_name(kernel) << ": " << c.describe() << ": " << problem);
    }
  }
}

TEST_CASE("CUDA gemm with M = 0 or N = 0 touches nothing", "[cuda]") {
  EMBER_REQUIRE_CUDA_DEVICE();
  // Null pointers are allowed for empty matrices: nothing is read or written.
  for (GemmKernel kernel : kernels_under_test()) {
    GemmOptions options;
    options.kernel = kernel;
    ember::kernels::cuda::gemm(false, false, 0, 5, 3, 1.f, nullptr, 3, nullptr, 5, 0.f, nullptr, 5,
                               options);
    ember::kernels::cuda::gemm(false, false, 4, 0, 3, 1.f, nullptr, 3, nullptr, 1, 0.f, nullptr, 1,
                               options);
  }
  EMBER_CUDA_CHECK(cudaDeviceSynchronize());
}
