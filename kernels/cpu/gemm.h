#pragma once
// CPU GEMM on raw row-major buffers (Eigen inside; this header does not include it).

#include <cstdint>

namespace ember::kernels::cpu {

/// C = alpha * op(A) · op(B) + beta * C on row-major buffers, where op(A) is [M, K],
/// op(B) is [K, N] and C is [M, N]. op(X) is X, or Xᵀ when `trans_x` (then X is stored as
/// [K, M] or [N, K]). lda, ldb, ldc are the row strides of A, B and C as stored.
/// beta == 0 never reads C, so C may hold garbage.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace ember::kernels::cpu
