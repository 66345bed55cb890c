// Kernel 2, coalesced: the naive loop with the roles of threadIdx swapped.
//
// Now the 32 lanes of a warp take 32 neighbouring columns n of one row m. C is row-major,
// so the warp's 32 stores form one contiguous 128-byte run (4 sectors instead of 32); for
// B stored [K, N] its loads do too, and A[m, k] is the same address for the whole warp, one
// broadcast. Nothing else changes: each multiply-add still needs two loads, which the next
// kernel attacks. (For a transposed B, or for A in the naive kernel's layout, the
// uncoalesced pattern comes back; the tiled kernels stage both operands in shared memory
// and so coalesce every layout.)

#include <ember/kernels/cuda/kernels.cuh>

namespace ember::kernels::cuda::detail {

namespace {
constexpr int kRows = 8, kCols = 32;  // a block's tile of C: 256 threads

__global__ void __launch_bounds__(kRows* kCols) coalesced_kernel(Problem p) {
  const Tile tile = tile_of_block(ceil_div(p.N, kCols));
  // Consecutive lanes, consecutive columns.
  const int m = tile.row * kRows + int(threadIdx.x) / kCols;
  const int n = tile.col * kCols + int(threadIdx.x) % kCols;
  if (m >= p.M || n >= p.N) return;

  const float* a = p.a.address(0, m);
  const float* b = p.b.address(0, n);
  const int64_t a_step = p.a.k_stride(), b_step = p.b.k_stride();
  float acc = 0.f;
  for (int k = 0; k < p.K; ++k) acc = fmaf(a[k * a_step], b[k * b_step], acc);
  store_result(p, m, n, acc);
}
}  // namespace

void launch_coalesced(const Problem& p, cudaStream_t stream) {
  const int64_t blocks = int64_t(ceil_div(p.M, kRows)) * ceil_div(p.N, kCols);
  launch_kernel(coalesced_kernel, "coalesced kernel", blocks, kRows * kCols, 0, stream, p);
}

}  // namespace ember::kernels::cuda::detail
