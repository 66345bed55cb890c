// The entry point: argument checks, the cases every kernel shares (empty products), the
// kernel choice, and cuBLAS for what the hand-written kernels leave to it.

#include <ember/error.h>
#include <ember/kernels/cuda/gemm.h>
#include <ember/kernels/cuda/kernels.cuh>

#include <cublas_v2.h>

#include <climits>
#include <string>

namespace ember::kernels::cuda {

namespace detail {

void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(std::string("cuda gemm: ") + what + " failed: " + cudaGetErrorName(status) + " (" +
                cudaGetErrorString(status) + ")");
  }
}

namespace {

void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw Error(std::string("cuda gemm: ") + what + " failed: " + cublasGetStatusName(status) +
                " (" + cublasGetStatusString(status) + ")");
  }
}

// C[m, n] = beta * C[m, n] + bias[n]: the whole product when alpha == 0 or K == 0, and the
// bias ahead of cuBLAS, which has no bias of its own (it then runs with beta = 1).
__global__ void scale_and_add_bias_kernel(int M, int N, float beta, const float* bias, float* C,
                                          int64_t ldc) {
  const int64_t index = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= int64_t(M) * N) return;
  const int m = int(index / N), n = int(index % N);
  float* c = C + m * ldc + n;
  const float value = bias != nullptr ? bias[n] : 0.f;
  *c = beta == 0.f ? value : fmaf(beta, *c, value);  // beta == 0 never reads C
}

void scale_and_add_bias(int64_t M, int64_t N, float beta, const float* bias, float* C,
                        int64_t ldc) {
  if (beta == 1.f && bias == nullptr) return;
  constexpr int threads = 256;
  launch_kernel(scale_and_add_bias_kernel, "scale_and_add_bias kernel",
                (M * N + threads - 1) / threads, threads, 0, nullptr, int(M), int(N), beta, bias, C,
                ldc);
}

// One cuBLAS handle per host thread and device, created on first use. A handle is not
// meant to be shared by threads running concurrently, and creating one costs milliseconds.
cublasHandle_t cublas_handle() {
  struct Handles {
    cublasHandle_t by_device[64] = {};
    ~Handles() {
      for (cublasHandle_t handle : by_device) {
        if (handle != nullptr) cublasDestroy(handle);
      }
    }
  };
  thread_local Handles handles;
  int device = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  if (device < 0 || device >= 64) check_cuda(cudaErrorInvalidDevice, "cuBLAS handle");
  cublasHandle_t& handle = handles.by_device[device];
  if (handle == nullptr) check_cublas(cublasCreate(&handle), "cublasCreate");
  return handle;
}

// cuBLAS is column-major. A row-major [M, N] matrix with row stride ld is, byte for byte, the
// column-major [N, M] matrix Cᵀ with the same ld, and Cᵀ = op(B)ᵀ · op(A)ᵀ. So the call swaps
// A and B, and M and N; the transposes stay as they are, since B as stored already reads
// as Bᵀ column-major.
void run_cublas(bool tf32, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                int64_t ldc) {
  check_cublas(
      cublasGemmEx(cublas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                   trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, int(N), int(M), int(K), &alpha, B,
                   CUDA_R_32F, int(ldb), A, CUDA_R_32F, int(lda), &beta, C, CUDA_R_32F, int(ldc),
                   tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      tf32 ? "cublasGemmEx (CUBLAS_COMPUTE_32F_FAST_TF32)" : "cublasGemmEx (CUBLAS_COMPUTE_32F)");
}

int multiprocessor_count() {
  int device = 0, count = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  check_cuda(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device),
             "cudaDeviceGetAttribute(multiprocessor count)");
  return count;
}

// Throws unless the arguments describe matrices that exist; nothing on the device is read.
void validate(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
              int64_t lda, const float* B, int64_t ldb, const float* C, int64_t ldc,
              GemmKernel kernel) {
  const auto fail = [](const std::string& message) { throw Error("cuda gemm: " + message); };
  const auto show = [](int64_t value) { return std::to_string(value); };
  if (M < 0 || N < 0 || K < 0) {
    fail("sizes must not be negative (M = " + show(M) + ", N = " + show(N) + ", K = " + show(K) +
         ")");
  }
  if (M > INT_MAX || N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldb > INT_MAX ||
      ldc > INT_MAX) {
    fail("sizes and strides must fit in 32 bits, as in cuBLAS (M = " + show(M) +
         ", N = " + show(N) + ", K = " + show(K) + ", lda = " + show(lda) + ", ldb = " + show(ldb) +
         ", ldc = " + show(ldc) + ")");
  }
  // A row stride is at least the stored row length, and at least 1 even for empty rows.
  const auto check_stride = [&](const char* ld_name, int64_t ld, const char* matrix, int64_t rows,
                                int64_t cols, const char* transposed) {
    if (ld < (cols > 1 ? cols : 1)) {
      fail(std::string(ld_name) + " = " + show(ld) + " is less than the " + show(cols) +
           " columns of " + matrix + " as stored ([" + show(rows) + ", " + show(cols) + "]" +
           transposed + ")");
    }
  };
  check_stride("lda", lda, "A", trans_a ? K : M, trans_a ? M : K, trans_a ? ", trans_a" : "");
  check_stride("ldb", ldb, "B", trans_b ? N : K, trans_b ? K : N, trans_b ? ", trans_b" : "");
  check_stride("ldc", ldc, "C", M, N, "");
  if (M > 0 && N > 0 && C == nullptr)
    fail("C is null for a [" + show(M) + ", " + show(N) + "] result");
  if (M > 0 && N > 0 && K > 0 && (A == nullptr || B == nullptr)) {
    fail(std::string(A == nullptr ? "A" : "B") + " is null (M = " + show(M) + ", N = " + show(N) +
         ", K = " + show(K) + ")");
  }
  if (kernel < GemmKernel::automatic || kernel > GemmKernel::cublas_tf32) {
    fail("unknown kernel " + show(int64_t(kernel)));
  }
}

}  // namespace
}  // namespace detail

GemmKernel choose_kernel(int64_t M, int64_t N, int64_t K, bool allow_tf32, int sm_count) {
  (void)K;  // K only lengthens each tile's loop; it does not change which kernel fits
  const int64_t tiles = (M + 127) / 128 * ((N + 127) / 128);
  if (tiles >= sm_count) return allow_tf32 ? GemmKernel::tf32 : GemmKernel::warptile;
  return allow_tf32 ? GemmKernel::cublas_tf32 : GemmKernel::cublas;
}

int device_count() {
  int count = 0;
  // Without a driver this fails and leaves count undefined; the error is not sticky, but
  // is cleared so that a later cudaGetLastError() does not report it.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
          const GemmOptions& options) {
  detail::validate(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, options.kernel);
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.f) {
    // An empty sum, or one scaled by zero: C = beta * C + bias, A and B never read.
    detail::scale_and_add_bias(M, N, beta, options.bias, C, ldc);
    return;
  }
  GemmKernel kernel = options.kernel;
  if (kernel == GemmKernel::automatic) {
    kernel = choose_kernel(M, N, K, options.allow_tf32, detail::multiprocessor_count());
  }
  if (kernel == GemmKernel::cublas || kernel == GemmKernel::cublas_tf32) {
    if (options.bias != nullptr) {
      detail::scale_and_add_bias(M, N, beta, options.bias, C, ldc);
      beta = 1.f;
    }
    detail::run_cublas(kernel == GemmKernel::cublas_tf32, trans_a, trans_b, M, N, K, alpha, A, lda,
                       B, ldb, beta, C, ldc);
    return;
  }
  detail::launch(kernel,
                 detail::make_problem(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                      ldc, options.bias),
                 nullptr);
}

}  // namespace ember::kernels::cuda
