// Large products through OpenBLAS, by way of Eigen's BLAS backend (EIGEN_USE_BLAS): Eigen
// sorts out the storage orders and transposes and calls sgemm_. Compiled only when CMake's
// EMBER_BLAS found OpenBLAS (cmake/blas.cmake); gemm.cpp decides which products come here.
//
// EIGEN_USE_BLAS changes what Eigen's product templates do, so this file's Eigen must not be
// merged by the linker with the Eigen of the other files, which multiply with Eigen's own
// kernel: its namespace is renamed, as gemm_kernel.cpp does per CPU level.

#define EIGEN_USE_BLAS
#define Eigen eigen_blas
#include <Eigen/Core>

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

// OpenBLAS's own thread count (cblas.h declares these; that header's folder depends on which
// OpenBLAS variant is installed, and these two declarations are all this file needs).
extern "C" {
void openblas_set_num_threads(int threads);
int openblas_get_num_threads(void);
}

namespace ember::kernels::cpu::blas {

#include "eigen_product.h"

// gemm.h's gemm() for M, N, K > 0. OpenBLAS keeps its own thread pool; it is given ember's cap
// (set_num_threads, which sets OpenMP's) so that one setting governs every large product.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
#else
  const int threads = 1;
#endif
  if (openblas_get_num_threads() != threads) openblas_set_num_threads(threads);
  eigen_product(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace ember::kernels::cpu::blas
