#pragma once
// CUDA GEMM on raw row-major device buffers: hand-written kernels from a naive loop to TF32
// tensor cores (docs/08-cuda-gemm.md explains them in order), behind one entry point that
// falls back to cuBLAS. Built only with -DEMBER_CUDA (library ember::cuda). This header
// needs no CUDA headers.

#include <cstdint>
#include <string_view>

namespace ember::kernels::cuda {

/// The kernels, in reading order. `automatic` lets gemm() choose; the others force one.
enum class GemmKernel {
  automatic,
  naive,         // one thread per element of C, neighbouring threads on neighbouring rows
  coalesced,     // one thread per element, neighbouring threads on neighbouring columns
  shared_tiled,  // 32x32 tiles of A and B staged in shared memory
  blocktile_1d,  // each thread computes 8 elements of a column
  blocktile_2d,  // each thread computes an 8x8 block
  vectorized,    // 2-D blocking with 16-byte loads from global and shared memory
  warptile,      // warp tiles, shared memory double-buffered with cp.async
  tf32,          // TF32 tensor cores (mma.sync), four-stage cp.async pipeline
  cublas,        // cuBLAS, CUBLAS_COMPUTE_32F
  cublas_tf32,   // cuBLAS, CUBLAS_COMPUTE_32F_FAST_TF32
};

/// Every kernel but `automatic`, in the order above.
inline constexpr GemmKernel all_gemm_kernels[] = {
    GemmKernel::naive,        GemmKernel::coalesced,    GemmKernel::shared_tiled,
    GemmKernel::blocktile_1d, GemmKernel::blocktile_2d, GemmKernel::vectorized,
    GemmKernel::warptile,     GemmKernel::tf32,         GemmKernel::cublas,
    GemmKernel::cublas_tf32};

/// "naive", "warptile", "cublas_tf32", ...
constexpr std::string_view kernel_name(GemmKernel kernel) {
  switch (kernel) {
    case GemmKernel::automatic:
      return "automatic";
    case GemmKernel::naive:
      return "naive";
    case GemmKernel::coalesced:
      return "coalesced";
    case GemmKernel::shared_tiled:
      return "shared_tiled";
    case GemmKernel::blocktile_1d:
      return "blocktile_1d";
    case GemmKernel::blocktile_2d:
      return "blocktile_2d";
    case GemmKernel::vectorized:
      return "vectorized";
    case GemmKernel::warptile:
      return "warptile";
    case GemmKernel::tf32:
      return "tf32";
    case GemmKernel::cublas:
      return "cublas";
    case GemmKernel::cublas_tf32:
      return "cublas_tf32";
  }
  return "unknown";
}

/// True for the kernels that round A and B to TF32 (a 10-bit mantissa, u = 2^-11).
constexpr bool uses_tf32(GemmKernel kernel) {
  return kernel == GemmKernel::tf32 || kernel == GemmKernel::cublas_tf32;
}

struct GemmOptions {
  /// [N] on the device, added to every row of C (the forward's y = x·Wᵀ + b), or null.
  const float* bias = nullptr;
  /// Which kernel runs; `automatic` picks with choose_kernel().
  GemmKernel kernel = GemmKernel::automatic;
  /// Lets `automatic` pick a TF32 kernel: about 8x the float32 rate on an H100, with
  /// inputs rounded to 11 significant bits.
  bool allow_tf32 = false;
};

/// C = alpha * op(A) · op(B) + beta * C (+ bias broadcast over rows) on row-major device
/// buffers, where op(A) is [M, K], op(B) is [K, N] and C is [M, N]. op(X) is X, or Xᵀ when
/// `trans_x` (then X is stored as [K, M] or [N, K]). lda, ldb, ldc are the row strides of
/// A, B and C as stored, the same convention as kernels::cpu::gemm. As in BLAS, beta == 0
/// never reads C, and alpha == 0 or K == 0 never reads A or B. A linear layer's three
/// products, with x: [batch, in], W: [out, in], y: [batch, out]:
///   y = x·Wᵀ + b   gemm(false, true, batch, out, in, 1, x, in, W, in, 0, y, out, {.bias = b})
///   dx = dy·W      gemm(false, false, batch, in, out, 1, dy, out, W, in, 0, dx, in)
///   dW += dyᵀ·x    gemm(true, false, out, in, batch, 1, dy, out, x, in, 1, dW, in)
/// Runs on the current device's default stream, asynchronously like a kernel launch.
/// Throws ember::Error naming the argument on invalid sizes or strides (before touching
/// the device) and naming the CUDA or cuBLAS call when one fails.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
          const GemmOptions& options = {});

/// The kernel `automatic` runs on a device with `sm_count` multiprocessors: the warp-tiled
/// kernel (or the TF32 one) when its 128x128 tiles fill every multiprocessor at least
/// once, otherwise cuBLAS, whose split-K and small-tile kernels suit small or skinny
/// products (dW of a narrow layer over a big batch) better.
GemmKernel choose_kernel(int64_t M, int64_t N, int64_t K, bool allow_tf32, int sm_count);

/// The number of CUDA devices; 0 when there is none or no driver. Never throws.
int device_count();

}  // namespace ember::kernels::cuda
