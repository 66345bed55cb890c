// Kernel 7, warp tiling with double-buffered shared memory (cp.async): the block's 128x128
// tile of C is split into 8 warp tiles of 64x32, and the next K step's tiles are copied
// into a second shared-memory buffer while the current one is being used.
//
// Warp tiles: in kernel 6 a warp covered 8 rows x 128 columns of the block tile, so each
// step of k its float4 reads touched 32 distinct float4s of B: 512 bytes, 4 shared-memory
// wavefronts per instruction. A warp's compact 64x32 tile needs 8 float4s of A and 4 of
// B per half, one wavefront each: shared-memory traffic per multiply-add falls 2.5x. This
// is also how tensor-core kernels are organised (kernel 8).
//
// Double buffering: kernels 3 to 6 load a tile, wait for it, then compute; while loads
// are in flight the warps idle unless other blocks happen to hide it. Here the copy of
// step t + 1 is issued before step t is computed, with cp.async so that no registers are
// tied up and the thread does not wait. With two buffers one barrier per step suffices:
// the buffer overwritten at step t was last read at step t - 1, before that barrier.

#include <ember/kernels/cuda/kernels.cuh>

namespace ember::kernels::cuda::detail {

namespace {
constexpr int kBlockM = 128, kBlockN = 128, kBlockK = 16;
constexpr int kWarpM = 64, kWarpN = 32;    // warp tile
constexpr int kWarpsN = kBlockN / kWarpN;  // 4 warps across, 2 down
constexpr int kThreads = 256;
constexpr int kStages = 2;
constexpr int kStride = 128 + 4;  // % 32 == 4: transposing copies hit 32 banks (common.cuh)
constexpr int kTileFloats = kBlockK * kStride;
static_assert(kBlockM == kBlockN, "A's and B's tiles share the copy below");

// Queues the copies of one K step's tile, [k][i] with row stride kStride.
__device__ __forceinline__ void copy_step_async(const Operand& op, int K, int k0, int i0,
                                                float* tile, int thread) {
  copy_tile_async<kBlockK, kBlockM, kStride, kThreads, 4>(op, K, k0, i0, tile, thread);
}

__global__ void __launch_bounds__(kThreads) warptile_kernel(Problem p) {
  __shared__ __align__(16) float a_tiles[kStages][kTileFloats];  // [k][m]
  __shared__ __align__(16) float b_tiles[kStages][kTileFloats];  // [k][n]
  const Tile tile = tile_of_block(ceil_div(p.N, kBlockN));
  const int m0 = tile.row * kBlockM, n0 = tile.col * kBlockN;
  const int thread = int(threadIdx.x), warp = thread / 32, lane = thread % 32;
  // Within the warp tile a lane owns rows r + {0..3} and r + 32 + {0..3} with r = 4 * (lane
  // / 4), and columns c + {0..3} and c + 16 + {0..3} with c = 4 * (lane % 4): 8x8 values.
  const int row0 = warp / kWarpsN * kWarpM + lane / 4 * 4;
  const int col0 = warp % kWarpsN * kWarpN + lane % 4 * 4;

  const int steps = ceil_div(p.K, kBlockK);
  copy_step_async(p.a, p.K, 0, m0, a_tiles[0], thread);
  copy_step_async(p.b, p.K, 0, n0, b_tiles[0], thread);
  cp_async_commit();

  float acc[8][8] = {};
  for (int step = 0; step < steps; ++step) {
    cp_async_wait<0>();  // this thread's copies for `step` have landed
    __syncthreads();     // everyone's have, and everyone is done reading step - 1's buffer
    if (step + 1 < steps) {
      const int next = (step + 1) % kStages, k0 = (step + 1) * kBlockK;
      copy_step_async(p.a, p.K, k0, m0, a_tiles[next], thread);
      copy_step_async(p.b, p.K, k0, n0, b_tiles[next], thread);
    }
    cp_async_commit();

    const float* a_tile = a_tiles[step % kStages];
    const float* b_tile = b_tiles[step % kStages];
#pragma unroll
    for (int k = 0; k < kBlockK; ++k) {
      const float4 a_low = load_float4(a_tile + k * kStride + row0);
      const float4 a_high = load_float4(a_tile + k * kStride + row0 + 32);
      const float4 b_low = load_float4(b_tile + k * kStride + col0);
      const float4 b_high = load_float4(b_tile + k * kStride + col0 + 16);
      const float a[8] = {a_low.x,  a_low.y,  a_low.z,  a_low.w,
                          a_high.x, a_high.y, a_high.z, a_high.w};
      const float b[8] = {b_low.x,  b_low.y,  b_low.z,  b_low.w,
                          b_high.x, b_high.y, b_high.z, b_high.w};
#pragma unroll
      for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int m = m0 + row0 + (i < 4 ? i : 32 + i - 4);
      const int n = n0 + col0 + (j < 4 ? j : 16 + j - 4);
      if (m < p.M && n < p.N) store_result(p, m, n, acc[i][j]);
    }
  }
}
}  // namespace

void launch_warptile(const Problem& p, cudaStream_t stream) {
  const int64_t blocks = int64_t(ceil_div(p.M, kBlockM)) * ceil_div(p.N, kBlockN);
  launch_kernel(warptile_kernel, "warptile kernel", blocks, kThreads, 0, stream, p);
}

}  // namespace ember::kernels::cuda::detail
