// Kernel 3, shared-memory tiling: a block computes a 32x32 tile of C and walks K in steps
// of 32, first copying the 32x32 tiles of A and B it needs into shared memory.
//
// In kernels 1 and 2 every thread fetched its own row of A and column of B, so each
// element was fetched 32 times per block. Here the block fetches each element once per
// tile (coalesced, whatever the layout: see the loaders in common.cuh) and the 32 uses
// come from shared memory, which is on-chip and an order of magnitude faster. Global
// traffic falls 32-fold. The inner loop still issues two shared-memory loads per
// multiply-add, and shared-memory bandwidth is now the limit.

#include <ember/kernels/cuda/kernels.cuh>

namespace ember::kernels::cuda::detail {

namespace {
constexpr int kTile = 32;                // C tile kTile x kTile, K step kTile
constexpr int kThreads = kTile * kTile;  // one thread per element of the C tile
constexpr int kStride = kTile + 1;       // odd: the transposing loads hit 32 banks

__global__ void __launch_bounds__(kThreads) shared_tiled_kernel(Problem p) {
  __shared__ float a_tile[kTile * kStride];  // [k][m]
  __shared__ float b_tile[kTile * kStride];  // [k][n]
  const Tile tile = tile_of_block(ceil_div(p.N, kTile));
  const int m0 = tile.row * kTile, n0 = tile.col * kTile;
  const int thread = int(threadIdx.x);
  const int row = thread / kTile, col = thread % kTile;  // lanes walk columns (kernel 2)

  float acc = 0.f;
  for (int k0 = 0; k0 < p.K; k0 += kTile) {
    load_tile<kTile, kTile, kStride, kThreads>(p.a, p.K, k0, m0, a_tile, thread);
    load_tile<kTile, kTile, kStride, kThreads>(p.b, p.K, k0, n0, b_tile, thread);
    __syncthreads();  // the tiles are complete
#pragma unroll
    for (int k = 0; k < kTile; ++k) {
      // a_tile: one address per warp (a broadcast); b_tile: 32 consecutive words.
      acc = fmaf(a_tile[k * kStride + row], b_tile[k * kStride + col], acc);
    }
    __syncthreads();  // everyone is done with the tiles before they are overwritten
  }
  if (m0 + row < p.M && n0 + col < p.N) store_result(p, m0 + row, n0 + col, acc);
}
}  // namespace

void launch_shared_tiled(const Problem& p, cudaStream_t stream) {
  const int64_t blocks = int64_t(ceil_div(p.M, kTile)) * ceil_div(p.N, kTile);
  launch_kernel(shared_tiled_kernel, "shared_tiled kernel", blocks, kThreads, 0, stream, p);
}

}  // namespace ember::kernels::cuda::detail
