// What the CUDA entry point decides before touching a device: argument checks and kernel
// choice. These run on every machine.

#include <ember/error.h>
#include <ember/kernels/cuda/gemm.h>

#include <catch2/catch.hpp>

#include <vector>

namespace cuda = ember::kernels::cuda;
using cuda::GemmKernel;

namespace {
// Stand-ins for device pointers: never dereferenced, since every call below is rejected.
std::vector<float> storage(64);
const float* A = storage.data();
const float* B = storage.data();
float* C = storage.data();
}  // namespace

TEST_CASE("CUDA gemm rejects bad sizes, strides and pointers with a message naming them",
          "[cuda]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(cuda::gemm(false, false, -1, 2, 3, 1.f, A, 3, B, 2, 0.f, C, 2),
                    Contains("must not be negative") && Contains("M = -1"));
  CHECK_THROWS_WITH(cuda::gemm(false, false, 4, 5, 6, 1.f, A, 5, B, 5, 0.f, C, 5),
                    Contains("lda = 5 is less than the 6 columns of A as stored ([4, 6])"));
  CHECK_THROWS_WITH(
      cuda::gemm(true, false, 4, 5, 6, 1.f, A, 3, B, 5, 0.f, C, 5),
      Contains("lda = 3 is less than the 4 columns of A as stored ([6, 4], trans_a)"));
  CHECK_THROWS_WITH(
      cuda::gemm(false, true, 4, 5, 6, 1.f, A, 6, B, 5, 0.f, C, 5),
      Contains("ldb = 5 is less than the 6 columns of B as stored ([5, 6], trans_b)"));
  CHECK_THROWS_WITH(cuda::gemm(false, false, 4, 5, 6, 1.f, A, 6, B, 5, 0.f, C, 4),
                    Contains("ldc = 4 is less than the 5 columns of C"));
  CHECK_THROWS_WITH(cuda::gemm(false, false, 4, 5, 6, 1.f, A, 6, B, 5, 0.f, nullptr, 5),
                    Contains("C is null"));
  CHECK_THROWS_WITH(cuda::gemm(false, false, 4, 5, 6, 1.f, nullptr, 6, B, 5, 0.f, C, 5),
                    Contains("A is null"));
  CHECK_THROWS_WITH(cuda::gemm(false, false, int64_t(1) << 31, 5, 6, 1.f, A, 6, B, 5, 0.f, C, 5),
                    Contains("fit in 32 bits"));
  CHECK_THROWS_AS(cuda::gemm(false, false, 4, 5, 6, 1.f, A, 6, B, 0, 0.f, C, 5), ember::Error);
}

TEST_CASE("CUDA gemm without a device throws a clear ember::Error", "[cuda]") {
  if (cuda::device_count() > 0) {
    WARN("skipped: a CUDA device is present");
    return;
  }
  CHECK_THROWS_AS(cuda::gemm(false, false, 4, 5, 6, 1.f, A, 6, B, 5, 0.f, C, 5), ember::Error);
  CHECK_THROWS_WITH(cuda::gemm(false, false, 4, 5, 6, 1.f, A, 6, B, 5, 0.f, C, 5),
                    Catch::Matchers::Contains("cuda gemm: "));
}

TEST_CASE("automatic choice: the warp-tiled kernel when its tiles fill the GPU, else cuBLAS",
          "[cuda]") {
  const int sms = 132;  // an H100 SXM / H200
  CHECK(cuda::choose_kernel(4096, 4096, 4096, false, sms) == GemmKernel::warptile);
  CHECK(cuda::choose_kernel(4096, 4096, 4096, true, sms) == GemmKernel::tf32);
  CHECK(cuda::choose_kernel(12 * 128, 11 * 128, 64, false, sms) == GemmKernel::warptile);
  CHECK(cuda::choose_kernel(12 * 128, 11 * 128 - 1, 64, false, sms) == GemmKernel::warptile);
  CHECK(cuda::choose_kernel(11 * 128, 11 * 128, 64, false, sms) == GemmKernel::cublas);
  // A narrow layer's weight gradient: tiny output, huge K.
  CHECK(cuda::choose_kernel(10, 10, 1 << 20, false, sms) == GemmKernel::cublas);
  CHECK(cuda::choose_kernel(10, 10, 1 << 20, true, sms) == GemmKernel::cublas_tf32);
}

TEST_CASE("CUDA kernel names and precisions", "[cuda]") {
  CHECK(cuda::kernel_name(GemmKernel::warptile) == "warptile");
  CHECK(cuda::kernel_name(GemmKernel::cublas_tf32) == "cublas_tf32");
  CHECK(cuda::uses_tf32(GemmKernel::tf32));
  CHECK(cuda::uses_tf32(GemmKernel::cublas_tf32));
  CHECK_FALSE(cuda::uses_tf32(GemmKernel::warptile));
  CHECK(std::size(cuda::all_gemm_kernels) == 10);
}
