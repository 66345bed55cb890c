// gemm() runs one of the copies of gemm_kernel.cpp that this build compiled, the one for
// cpu_level(), so one library runs on any x86-64 and still uses AVX2 or AVX-512 where the CPU
// has them. With OpenBLAS (CMake's EMBER_BLAS), large products go to it instead.

#include <ember/kernels/cpu/gemm.h>

#include <algorithm>

#include <ember/kernels/cpu/parallel.h>

namespace ember::kernels::cpu {

#define EMBER_DECLARE_GEMM(level)                                                     \
  namespace level {                                                                   \
  void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, \
            const float* A, int64_t lda, const float* B, int64_t ldb, float beta,     \
            const float* row, float* C, int64_t ldc);                                 \
  }
#if defined(EMBER_CPU_LEVELS_NATIVE)
EMBER_DECLARE_GEMM(native)
#else
EMBER_DECLARE_GEMM(baseline)
#endif
#if defined(EMBER_CPU_LEVELS_X86_64)
EMBER_DECLARE_GEMM(avx2)
EMBER_DECLARE_GEMM(avx512)
#endif

#if defined(EMBER_HAVE_BLAS)
namespace blas {
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
}

namespace {
// The products OpenBLAS takes (gemm_blas.cpp): those Eigen would split across threads
// (gemm_kernel.cpp's kParallelWork), so Eigen's OpenMP threads and OpenBLAS's never both run.
// One thread each, on a 2-core AMD EPYC (Zen 3, AVX2), GCC 12, GFLOP/s Eigen vs OpenBLAS 0.3.21:
// 64^3 82 vs 65, 128^3 89 vs 78 (Eigen's lead ends about here), 256^3 61 vs 84, 1024^3 77 vs 87,
// 2048^3 81 vs 90.
constexpr double kBlasMinWork = 1 << 21;
}  // namespace
#endif

GemmKernel gemm_kernel(CpuLevel level) {
  if (!cpu_level_available(level)) return nullptr;
  switch (level) {
#if defined(EMBER_CPU_LEVELS_NATIVE)
    case CpuLevel::native:
      return native::gemm;
#else
    case CpuLevel::baseline:
      return baseline::gemm;
#endif
#if defined(EMBER_CPU_LEVELS_X86_64)
    case CpuLevel::avx2:
      return avx2::gemm;
    case CpuLevel::avx512:
      return avx512::gemm;
#endif
    default:
      return nullptr;
  }
}

void gemm_row(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
              const float* row, float* C, int64_t ldc) {
#if defined(EMBER_HAVE_BLAS)
  if (double(M) * double(N) * double(K) >= kBlasMinWork) {
    // sgemm adds beta * C: the row is copied into C's rows first, split across threads as the
    // product is.
    if (row != nullptr && beta != 0.f) {
      parallel_for(M, N, [&](int64_t first, int64_t last) {
        fill_rows(row, N, C + first * ldc, last - first, ldc);
      });
    }
    blas::gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  // Chosen on the first call; the function-local static costs one load and branch per call.
  static const GemmKernel kernel = gemm_kernel(cpu_level());
  kernel(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, row, C, ldc);
}

void fill_rows(const float* row, int64_t N, float* C, int64_t M, int64_t ldc) {
  if (M <= 0) return;
  if (ldc != N) {
    for (int64_t i = 0; i < M; ++i) std::copy_n(row, N, C + i * ldc);
    return;
  }
  std::copy_n(row, N, C);
  for (int64_t done = 1; done < M; done *= 2) {
    std::copy_n(C, std::min(done, M - done) * N, C + done * N);
  }
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_row(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, nullptr, C, ldc);
}

}  // namespace ember::kernels::cpu
