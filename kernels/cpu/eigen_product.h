// C = alpha·op(A)·op(B) + beta·C through Eigen's product templates, for the two files that
// multiply with Eigen: gemm_kernel.cpp (Eigen's own kernel, once per CPU level) and
// gemm_blas.cpp (Eigen's BLAS backend). Each renames Eigen's namespace and includes
// <Eigen/Core> and <cstdint> first, then includes this file inside its own namespace, so that
// every copy stays in its object (cmake/check_cpu_level_symbols.cmake). Not installed.

namespace {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using MatrixMap = Eigen::Map<RowMajorMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

// Eigen folds `alpha * A * B` into its GEMM (no temporary; with EIGEN_USE_BLAS one sgemm_
// call), and `noalias` tells it C does not overlap A or B, so the product is written straight
// into C. With beta, C is scaled first and the product accumulated.
template <class OpA, class OpB>
void multiply(MatrixMap& c, float alpha, const OpA& a, const OpB& b, float beta) {
  if (beta == 0.f) {
    c.noalias() = alpha * a * b;
  } else {
    if (beta != 1.f) c *= beta;
    c.noalias() += alpha * a * b;
  }
}

// gemm.h's gemm() on row-major buffers, for M, N, K > 0.
void eigen_product(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                   int64_t ldc) {
  MatrixMap c(C, M, N, Eigen::OuterStride<>(ldc));
  const ConstMatrixMap a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  const ConstMatrixMap b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) multiply(c, alpha, a, b, beta);
  if (!trans_a && trans_b) multiply(c, alpha, a, b.transpose(), beta);
  if (trans_a && !trans_b) multiply(c, alpha, a.transpose(), b, beta);
  if (trans_a && trans_b) multiply(c, alpha, a.transpose(), b.transpose(), beta);
}

}  // namespace
