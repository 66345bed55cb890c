// Kernel 6, vectorized: kernel 5 with 16-byte loads, from global and from shared memory.
//
// Global: each thread moves four neighbours along the contiguous dimension as one float4
// (one instruction instead of four), falling back to guarded scalar loads where the
// operand is not 16-byte aligned (ld % 4 != 0, an odd offset) or the vector crosses the
// matrix edge. Shared: a thread reads its 8 values of A and of B as two float4 each. With
// 8 consecutive columns per thread (kernel 5) the 8 threads of a quarter-warp would read
// 128-byte-apart float4s and collide on banks; so a thread owns columns 4c..4c+3 and
// 64+4c..64+4c+3 instead (rows likewise), and a quarter-warp's float4s are contiguous.
// Fewer, wider instructions leave more issue slots for the multiply-adds.

#include <ember/kernels/cuda/kernels.cuh>

namespace ember::kernels::cuda::detail {

namespace {
constexpr int kBlockM = 128, kBlockN = 128, kBlockK = 8;
constexpr int kThreadsN = 16;     // threads across a tile's columns
constexpr int kThreads = 256;     // 16 x 16 threads, 8x8 elements each
constexpr int kHalf = 64;         // a thread's second 4 rows / columns
constexpr int kStride = 128 + 4;  // % 32 == 4: transposing loads hit 32 banks (common.cuh)

__global__ void __launch_bounds__(kThreads) vectorized_kernel(Problem p) {
  __shared__ __align__(16) float a_tile[kBlockK * kStride];  // [k][m]
  __shared__ __align__(16) float b_tile[kBlockK * kStride];  // [k][n]
  const Tile tile = tile_of_block(ceil_div(p.N, kBlockN));
  const int m0 = tile.row * kBlockM, n0 = tile.col * kBlockN;
  const int thread = int(threadIdx.x);
  // This thread's rows are row0 + {0..3} and kHalf + row0 + {0..3}; columns likewise.
  const int row0 = thread / kThreadsN * 4, col0 = thread % kThreadsN * 4;

  float acc[8][8] = {};
  for (int k0 = 0; k0 < p.K; k0 += kBlockK) {
    load_tile_vec4<kBlockK, kBlockM, kStride, kThreads>(p.a, p.K, k0, m0, a_tile, thread);
    load_tile_vec4<kBlockK, kBlockN, kStride, kThreads>(p.b, p.K, k0, n0, b_tile, thread);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kBlockK; ++k) {
      const float* a_row = a_tile + k * kStride;
      const float* b_row = b_tile + k * kStride;
      const float4 a_low = load_float4(a_row + row0), a_high = load_float4(a_row + kHalf + row0);
      const float4 b_low = load_float4(b_row + col0), b_high = load_float4(b_row + kHalf + col0);
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
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int m = m0 + row0 + (i < 4 ? i : kHalf + i - 4);
      const int n = n0 + col0 + (j < 4 ? j : kHalf + j - 4);
      if (m < p.M && n < p.N) store_result(p, m, n, acc[i][j]);
    }
  }
}
}  // namespace

void launch_vectorized(const Problem& p, cudaStream_t stream) {
  const int64_t blocks = int64_t(ceil_div(p.M, kBlockM)) * ceil_div(p.N, kBlockN);
  launch_kernel(vectorized_kernel, "vectorized kernel", blocks, kThreads, 0, stream, p);
}

}  // namespace ember::kernels::cuda::detail
