// Kernel 5, 2-D register blocking: each thread computes an 8x8 block of C (a block: a
// 128x128 tile, 256 threads, K in steps of 8).
//
// Per step of k a thread loads 8 values of A and 8 of B into registers and performs their
// 64 products: 16 loads for 64 multiply-adds, 1/4 load per multiply-add (kernel 4: 9/8).
// The arithmetic intensity of the block's global traffic doubles too: a 128x128 tile
// reads 128 + 128 floats per k for 128 * 128 multiply-adds, 64 per float (kernel 4: 32).
// 64 accumulators plus 16 operands fit in registers (ptxas reports the count; spills fail
// the build).

#include <ember/kernels/cuda/kernels.cuh>

namespace ember::kernels::cuda::detail {

namespace {
constexpr int kBlockM = 128, kBlockN = 128, kBlockK = 8;
constexpr int kThreadM = 8, kThreadN = 8;
constexpr int kThreadsN = kBlockN / kThreadN;             // 16 threads across a tile
constexpr int kThreads = kBlockM / kThreadM * kThreadsN;  // 256
constexpr int kStride = 128 + 4;  // % 32 == 4: transposing loads hit 32 banks (common.cuh)

__global__ void __launch_bounds__(kThreads) blocktile_2d_kernel(Problem p) {
  __shared__ __align__(16) float a_tile[kBlockK * kStride];  // [k][m]
  __shared__ __align__(16) float b_tile[kBlockK * kStride];  // [k][n]
  const Tile tile = tile_of_block(ceil_div(p.N, kBlockN));
  const int m0 = tile.row * kBlockM, n0 = tile.col * kBlockN;
  const int thread = int(threadIdx.x);
  const int row0 = thread / kThreadsN * kThreadM, col0 = thread % kThreadsN * kThreadN;

  float acc[kThreadM][kThreadN] = {};
  float a[kThreadM], b[kThreadN];
  for (int k0 = 0; k0 < p.K; k0 += kBlockK) {
    load_tile<kBlockK, kBlockM, kStride, kThreads>(p.a, p.K, k0, m0, a_tile, thread);
    load_tile<kBlockK, kBlockN, kStride, kThreads>(p.b, p.K, k0, n0, b_tile, thread);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kBlockK; ++k) {
#pragma unroll
      for (int i = 0; i < kThreadM; ++i) a[i] = a_tile[k * kStride + row0 + i];
#pragma unroll
      for (int j = 0; j < kThreadN; ++j) b[j] = b_tile[k * kStride + col0 + j];
#pragma unroll
      for (int i = 0; i < kThreadM; ++i) {
#pragma unroll
        for (int j = 0; j < kThreadN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kThreadM; ++i) {
#pragma unroll
    for (int j = 0; j < kThreadN; ++j) {
      const int m = m0 + row0 + i, n = n0 + col0 + j;
      if (m < p.M && n < p.N) store_result(p, m, n, acc[i][j]);
    }
  }
}
}  // namespace

void launch_blocktile_2d(const Problem& p, cudaStream_t stream) {
  const int64_t blocks = int64_t(ceil_div(p.M, kBlockM)) * ceil_div(p.N, kBlockN);
  launch_kernel(blocktile_2d_kernel, "blocktile_2d kernel", blocks, kThreads, 0, stream, p);
}

}  // namespace ember::kernels::cuda::detail
