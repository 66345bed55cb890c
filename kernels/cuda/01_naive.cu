// Kernel 1, naive: one thread per element of C, each running the textbook loop over k.
//
// It is correct for every shape and layout, and slow for a reason the next kernel fixes:
// the 32 threads of a warp take 32 neighbouring rows m of one column n. A warp's load is
// served in 32-byte sectors, and neighbouring rows of A and of C are ld floats apart, so
// each load of A[m, k] and each store of C[m, n] costs one sector per thread: 32 sectors
// where 4 would do. Every element of A and B is also read from global memory (or cache)
// once per use, 2 loads per multiply-add, so even with perfect coalescing this loop would
// be bandwidth-bound far below the arithmetic peak (docs/08-cuda-gemm.md, "Roofline").

#include <ember/kernels/cuda/kernels.cuh>

namespace ember::kernels::cuda::detail {

namespace {
constexpr int kRows = 32, kCols = 8;  // a block's tile of C: 256 threads

__global__ void __launch_bounds__(kRows* kCols) naive_kernel(Problem p) {
  const Tile tile = tile_of_block(ceil_div(p.N, kCols));
  // threadIdx.x % 32 is the lane: consecutive lanes, consecutive rows.
  const int m = tile.row * kRows + int(threadIdx.x) % kRows;
  const int n = tile.col * kCols + int(threadIdx.x) / kRows;
  if (m >= p.M || n >= p.N) return;

  const float* a = p.a.address(0, m);
  const float* b = p.b.address(0, n);
  const int64_t a_step = p.a.k_stride(), b_step = p.b.k_stride();
  float acc = 0.f;
  for (int k = 0; k < p.K; ++k) acc = fmaf(a[k * a_step], b[k * b_step], acc);
  store_result(p, m, n, acc);
}
}  // namespace

void launch_naive(const Problem& p, cudaStream_t stream) {
  const int64_t blocks = int64_t(ceil_div(p.M, kRows)) * ceil_div(p.N, kCols);
  launch_kernel(naive_kernel, "naive kernel", blocks, kRows * kCols, 0, stream, p);
}

}  // namespace ember::kernels::cuda::detail
