#pragma once
// The hand-written kernels' launchers, one per file 01_naive.cu ... 08_tf32.cu, and the
// host-side translation from gemm()'s arguments to the Problem they share.

#include <ember/kernels/cuda/gemm.h>
#include <ember/kernels/cuda/common.cuh>

namespace ember::kernels::cuda::detail {

void launch_naive(const Problem& p, cudaStream_t stream);
void launch_coalesced(const Problem& p, cudaStream_t stream);
void launch_shared_tiled(const Problem& p, cudaStream_t stream);
void launch_blocktile_1d(const Problem& p, cudaStream_t stream);
void launch_blocktile_2d(const Problem& p, cudaStream_t stream);
void launch_vectorized(const Problem& p, cudaStream_t stream);
void launch_warptile(const Problem& p, cudaStream_t stream);
void launch_tf32(const Problem& p, cudaStream_t stream);

// Whether 16-byte vectors along the contiguous dimension of a matrix stay aligned.
inline bool vector_aligned(const float* data, int64_t ld) {
  return reinterpret_cast<uintptr_t>(data) % 16 == 0 && ld % 4 == 0;
}

// gemm()'s row-major arguments as the kernels see them (sizes already validated to fit
// in int). op(A)[m, k] is A[m * lda + k], or A[k * lda + m] when trans_a; op(B)[k, n] is
// B[k * ldb + n], or B[n * ldb + k] when trans_b.
inline Problem make_problem(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                            float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                            float beta, float* C, int64_t ldc, const float* bias) {
  Problem p;
  p.M = int(M);
  p.N = int(N);
  p.K = int(K);
  p.a = Operand{A, lda, int(M), !trans_a, vector_aligned(A, lda)};
  p.b = Operand{B, ldb, int(N), trans_b, vector_aligned(B, ldb)};
  p.alpha = alpha;
  p.beta = beta;
  p.bias = bias;
  p.c = C;
  p.ldc = ldc;
  return p;
}

// Runs one of the hand-written kernels (not automatic or cuBLAS) on a non-empty problem.
inline void launch(GemmKernel kernel, const Problem& p, cudaStream_t stream) {
  switch (kernel) {
    case GemmKernel::naive:
      return launch_naive(p, stream);
    case GemmKernel::coalesced:
      return launch_coalesced(p, stream);
    case GemmKernel::shared_tiled:
      return launch_shared_tiled(p, stream);
    case GemmKernel::blocktile_1d:
      return launch_blocktile_1d(p, stream);
    case GemmKernel::blocktile_2d:
      return launch_blocktile_2d(p, stream);
    case GemmKernel::vectorized:
      return launch_vectorized(p, stream);
    case GemmKernel::warptile:
      return launch_warptile(p, stream);
    case GemmKernel::tf32:
      return launch_tf32(p, stream);
    default:
      check_cuda(cudaErrorInvalidValue, "launch: not a hand-written kernel");
  }
}

}  // namespace ember::kernels::cuda::detail
