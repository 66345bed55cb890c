#pragma once
// CPU GEMM on raw row-major buffers (Eigen inside; this header does not include it).

#include <cstdint>

#include <ember/kernels/cpu/cpu_level.h>

namespace ember::kernels::cpu {

/// C = alpha * op(A) · op(B) + beta * C on row-major buffers, where op(A) is [M, K],
/// op(B) is [K, N] and C is [M, N]. op(X) is X, or Xᵀ when `trans_x` (then X is stored as
/// [K, M] or [N, K]). lda, ldb, ldc are the row strides of A, B and C as stored.
/// beta == 0 never reads C, so C may hold garbage. Runs the kernel built for cpu_level().
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

/// C = alpha * op(A) · op(B) + beta * row on every row of C: gemm with beta times `row` (N
/// floats) in place of beta times C's own values. A linear layer adds its bias this way
/// without first copying it into each row, with the same floats as that copy followed by gemm.
/// C is only written; `row` must not overlap it.
void gemm_row(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
              const float* row, float* C, int64_t ldc);

/// Sets each of C's M rows (row stride ldc) to `row` (N floats): gemm_row's starting values,
/// for the paths that add beta * C in place, and any other broadcast of a row. Contiguous rows
/// (ldc == N) are the first row, then the rows done so far copied after them, doubling:
/// log₂ M copies rather than M (for a [10, 1] output, ten 4-byte memmove calls took as long as
/// a task head's product).
void fill_rows(const float* row, int64_t N, float* C, int64_t M, int64_t ldc);

/// gemm_row's parameters, and its meaning; with row null, gemm's.
using GemmKernel = void (*)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                            float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                            float beta, const float* row, float* C, int64_t ldc);

/// The gemm built for `level`, or nullptr when !cpu_level_available(level). gemm() calls the
/// one for cpu_level(); this lets tests run every level on one machine.
GemmKernel gemm_kernel(CpuLevel level);

}  // namespace ember::kernels::cpu
