// Kernel 8, TF32 tensor cores: kernel 7's block and warp tiles, with each warp's 64x32
// tile computed by mma.sync instructions instead of multiply-adds, and a four-stage
// cp.async pipeline.
//
// One mma.sync.m16n8k8 multiplies a 16x8 tile of A by an 8x8 tile of B for the whole warp:
// 1024 multiply-adds in one instruction, at about 8x the float32 rate of the CUDA cores
// (H100 SXM: 495 dense TF32 TFLOPS vs 67 float32, NVIDIA's datasheet). The price is
// precision: A and B are rounded to TF32, 10 mantissa bits (u = 2^-11), while products are
// still summed in float32.
//
// What changes against kernel 7:
// - Operands reach the tensor cores as per-lane fragments (see mma_tf32_16x8x8), read from
//   shared memory one element at a time. Tiles stay k-major as in kernel 7, so every
//   fragment element sits at a fixed offset from the lane's base address; a row stride of
//   136 floats (% 32 == 8) puts the 32 lanes' reads (k = t, i = g) in 32 different banks.
// - Tensor cores finish a K step several times faster, so global latency is harder to hide:
//   four buffers, three K steps in flight while one is computed. The buffer refilled at
//   step t was read at step t - 1, so one barrier per step still suffices.
// - 68 KiB of shared memory is more than the 48 KiB a launch gets by default, so it is
//   dynamic shared memory, allowed at launch.

#include <ember/kernels/cuda/kernels.cuh>

namespace ember::kernels::cuda::detail {

namespace {
constexpr int kBlockM = 128, kBlockN = 128, kBlockK = 16;
constexpr int kWarpM = 64, kWarpN = 32;    // warp tile: 4 x 4 mma tiles of 16x8
constexpr int kWarpsN = kBlockN / kWarpN;  // 4 warps across, 2 down
constexpr int kThreads = 256;
constexpr int kStages = 4;
constexpr int kStride = kBlockM + 8;  // % 32 == 8: fragment reads hit 32 banks
constexpr int kTileFloats = kBlockK * kStride;
constexpr int kSharedBytes = kStages * 2 * kTileFloats * int(sizeof(float));
static_assert(kBlockM == kBlockN, "A's and B's tiles share the copy and layout below");

// Queues the copies of one K step's tile, [k][i] with row stride kStride. Transposing copies
// go in patches of 8 rows x 4 columns, whose stores hit 32 banks with this stride.
__device__ __forceinline__ void copy_step_async(const Operand& op, int K, int k0, int i0,
                                                float* tile, int thread) {
  copy_tile_async<kBlockK, kBlockM, kStride, kThreads, 8>(op, K, k0, i0, tile, thread);
}

__global__ void __launch_bounds__(kThreads) tf32_kernel(Problem p) {
  float* shared = dynamic_shared_memory();  // per stage: A's tile, then B's
  const Tile tile = tile_of_block(ceil_div(p.N, kBlockN));
  const int m0 = tile.row * kBlockM, n0 = tile.col * kBlockN;
  const int thread = int(threadIdx.x), warp = thread / 32, lane = thread % 32;
  const int group = lane / 4, thread_in_group = lane % 4;  // g and t of the fragment layout
  const int warp_m0 = warp / kWarpsN * kWarpM, warp_n0 = warp % kWarpsN * kWarpN;
  auto a_tile = [&](int stage) { return shared + stage * 2 * kTileFloats; };
  auto b_tile = [&](int stage) { return shared + (stage * 2 + 1) * kTileFloats; };

  const int steps = ceil_div(p.K, kBlockK);
  for (int stage = 0; stage < kStages - 1; ++stage) {
    if (stage < steps) {
      copy_step_async(p.a, p.K, stage * kBlockK, m0, a_tile(stage), thread);
      copy_step_async(p.b, p.K, stage * kBlockK, n0, b_tile(stage), thread);
    }
    cp_async_commit();  // one group per step, empty or not, keeps the count below simple
  }

  float acc[kWarpM / 16][kWarpN / 8][4] = {};
  for (int step = 0; step < steps; ++step) {
    // Groups committed so far: kStages - 1 + step. With at most kStages - 2 in flight, the
    // first step + 1 have landed, this step's included.
    cp_async_wait<kStages - 2>();
    __syncthreads();  // everyone's copies landed; everyone is done with step - 1's buffer
    const int ahead = step + kStages - 1;
    if (ahead < steps) {
      copy_step_async(p.a, p.K, ahead * kBlockK, m0, a_tile(ahead % kStages), thread);
      copy_step_async(p.b, p.K, ahead * kBlockK, n0, b_tile(ahead % kStages), thread);
    }
    cp_async_commit();

    const float* a_shared = a_tile(step % kStages);
    const float* b_shared = b_tile(step % kStages);
#pragma unroll
    for (int k = 0; k < kBlockK; k += 8) {
      const int k_low = k + thread_in_group, k_high = k_low + 4;
      uint32_t a[kWarpM / 16][4], b[kWarpN / 8][2];
#pragma unroll
      for (int i = 0; i < kWarpM / 16; ++i) {
        const int row = warp_m0 + i * 16 + group;
        a[i][0] = to_tf32(a_shared[k_low * kStride + row]);
        a[i][1] = to_tf32(a_shared[k_low * kStride + row + 8]);
        a[i][2] = to_tf32(a_shared[k_high * kStride + row]);
        a[i][3] = to_tf32(a_shared[k_high * kStride + row + 8]);
      }
#pragma unroll
      for (int j = 0; j < kWarpN / 8; ++j) {
        const int col = warp_n0 + j * 8 + group;
        b[j][0] = to_tf32(b_shared[k_low * kStride + col]);
        b[j][1] = to_tf32(b_shared[k_high * kStride + col]);
      }
#pragma unroll
      for (int i = 0; i < kWarpM / 16; ++i) {
#pragma unroll
        for (int j = 0; j < kWarpN / 8; ++j) mma_tf32_16x8x8(acc[i][j], a[i], b[j]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kWarpM / 16; ++i) {
#pragma unroll
    for (int j = 0; j < kWarpN / 8; ++j) {
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int m = m0 + warp_m0 + i * 16 + group + (r >= 2 ? 8 : 0);
        const int n = n0 + warp_n0 + j * 8 + thread_in_group * 2 + (r & 1);
        if (m < p.M && n < p.N) store_result(p, m, n, acc[i][j][r]);
      }
    }
  }
}
}  // namespace

void launch_tf32(const Problem& p, cudaStream_t stream) {
  const int64_t blocks = int64_t(ceil_div(p.M, kBlockM)) * ceil_div(p.N, kBlockN);
  launch_kernel(tf32_kernel, "tf32 kernel", blocks, kThreads, kSharedBytes, stream, p);
}

}  // namespace ember::kernels::cuda::detail
