#include <ember/kernels/cpu/gemm.h>

#include <Eigen/Core>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ember::kernels::cpu {

namespace {
using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using MatrixMap = Eigen::Map<RowMajorMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

// Eigen folds `alpha * A * B` into its GEMM kernel (no temporary), and `noalias` tells it C
// does not overlap A or B, so the product is written straight into C.
template <class OpA, class OpB>
void multiply(MatrixMap& c, float alpha, const OpA& a, const OpB& b, float beta) {
  if (beta == 0.f) {
    c.noalias() = alpha * a * b;
  } else {
    if (beta != 1.f) c *= beta;
    c.noalias() += alpha * a * b;
  }
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  MatrixMap c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    // An empty sum: op(A)·op(B) is all zeros.
    if (beta == 0.f) {
      c.setZero();
    } else {
      c *= beta;
    }
    return;
  }
#ifdef _OPENMP
  // Eigen splits a product across threads once it exceeds ~50,000 multiply-adds, but waking
  // and joining OpenMP threads costs more than that saves until products are far larger, and
  // idle OpenMP workers spin: on a busy machine, many small GEMMs in a row (a training loop)
  // ran 60x slower. Below ~2M multiply-adds this thread runs the product alone (the setting
  // is per calling thread, so other threads are unaffected).
  constexpr double kParallelWork = 1 << 21;
  const bool small = double(M) * double(N) * double(K) < kParallelWork;
  const int threads = omp_get_max_threads();
  if (small) omp_set_num_threads(1);
#endif
  const ConstMatrixMap a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  const ConstMatrixMap b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) multiply(c, alpha, a, b, beta);
  if (!trans_a && trans_b) multiply(c, alpha, a, b.transpose(), beta);
  if (trans_a && !trans_b) multiply(c, alpha, a.transpose(), b, beta);
  if (trans_a && trans_b) multiply(c, alpha, a.transpose(), b.transpose(), beta);
#ifdef _OPENMP
  if (small) omp_set_num_threads(threads);
#endif
}

}  // namespace ember::kernels::cpu
