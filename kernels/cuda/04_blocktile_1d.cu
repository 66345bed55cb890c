// Kernel 4, 1-D register blocking: each thread computes 8 elements of one column of C
// (a block: a 64x64 tile, 512 threads, K in steps of 8).
//
// Kernel 3 loads two shared-memory words per multiply-add. Here a thread loads B[k, n]
// once into a register and uses it for its 8 rows, so a step of k costs 1 load of B and
// 8 of A (broadcasts, one address per warp) for 8 multiply-adds: 9/8 loads per
// multiply-add instead of 2, and each thread has 8 independent accumulators to keep the
// pipelines busy. A smaller K step (8) keeps shared memory small for more blocks per SM.

#include <ember/kernels/cuda/kernels.cuh>

namespace ember::kernels::cuda::detail {

namespace {
constexpr int kBlockM = 64, kBlockN = 64, kBlockK = 8;
constexpr int kThreadM = 8;                             // rows of C per thread
constexpr int kThreads = kBlockM / kThreadM * kBlockN;  // 512
constexpr int kStride = 64 + 4;  // % 32 == 4: transposing loads hit 32 banks (common.cuh)

__global__ void __launch_bounds__(kThreads) blocktile_1d_kernel(Problem p) {
  __shared__ __align__(16) float a_tile[kBlockK * kStride];  // [k][m]
  __shared__ __align__(16) float b_tile[kBlockK * kStride];  // [k][n]
  const Tile tile = tile_of_block(ceil_div(p.N, kBlockN));
  const int m0 = tile.row * kBlockM, n0 = tile.col * kBlockN;
  const int thread = int(threadIdx.x);
  const int row0 = thread / kBlockN * kThreadM;  // first of this thread's 8 rows
  const int col = thread % kBlockN;              // lanes walk columns

  float acc[kThreadM] = {};
  for (int k0 = 0; k0 < p.K; k0 += kBlockK) {
    load_tile<kBlockK, kBlockM, kStride, kThreads>(p.a, p.K, k0, m0, a_tile, thread);
    load_tile<kBlockK, kBlockN, kStride, kThreads>(p.b, p.K, k0, n0, b_tile, thread);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kBlockK; ++k) {
      const float b = b_tile[k * kStride + col];
#pragma unroll
      for (int i = 0; i < kThreadM; ++i) acc[i] = fmaf(a_tile[k * kStride + row0 + i], b, acc[i]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kThreadM; ++i) {
    const int m = m0 + row0 + i, n = n0 + col;
    if (m < p.M && n < p.N) store_result(p, m, n, acc[i]);
  }
}
}  // namespace

void launch_blocktile_1d(const Problem& p, cudaStream_t stream) {
  const int64_t blocks = int64_t(ceil_div(p.M, kBlockM)) * ceil_div(p.N, kBlockN);
  launch_kernel(blocktile_1d_kernel, "blocktile_1d kernel", blocks, kThreads, 0, stream, p);
}

}  // namespace ember::kernels::cuda::detail
