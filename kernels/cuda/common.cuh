#pragma once
// What every GEMM kernel shares: the problem as the kernels see it (two alike operands and
// an epilogue), the tile loaders, the launch helper, and the few device primitives that
// need inline PTX. Internal to kernels/cuda; users include <ember/kernels/cuda/gemm.h>.

#include <cstdint>

#if defined(EMBER_CUDA_EMULATOR)
// tests/cuda/emulator runs these kernels on the CPU, so their indexing is tested without a
// GPU. Its build puts the emulator's folder on the include path, and its header provides
// the CUDA built-ins (threadIdx, __syncthreads, float4, ...).
#include <emulator.h>
#else
#include <cuda_runtime.h>
#endif

namespace ember::kernels::cuda::detail {

// One input of C = op(A)·op(B), seen as a [K, extent] matrix: element (k, i) is op(A)[i, k]
// for A (i runs over M) and op(B)[k, i] for B (i runs over N). Seen this way A and B are
// alike, so one loader serves both in all four transpose combinations; what differs is
// only which of k and i is contiguous in memory.
struct Operand {
  const float* data;
  int64_t ld;           // row stride as stored
  int extent;           // M for A, N for B
  bool k_contiguous;    // element (k, i) is at data[i * ld + k]; else at data[k * ld + i]
  bool vector_aligned;  // data 16-byte aligned and ld % 4 == 0: four elements starting at a
                        // multiple of 4 along the contiguous dimension form one float4

  __host__ __device__ const float* address(int k, int i) const {
    return k_contiguous ? data + int64_t(i) * ld + k : data + int64_t(k) * ld + i;
  }
  // Distance in floats between (k, i) and (k + 1, i).
  __host__ __device__ int64_t k_stride() const { return k_contiguous ? 1 : ld; }
};

// Everything a kernel needs, passed by value as its one parameter.
struct Problem {
  int M, N, K;
  Operand a;  // op(A) seen as [K, M]
  Operand b;  // op(B), [K, N]
  float alpha, beta;
  const float* bias;  // [N] or null
  float* c;
  int64_t ldc;
};

// The epilogue every kernel ends with: C[m, n] = alpha * acc + bias[n] + beta * C[m, n].
// beta == 0 never reads C, as in BLAS, so C may start as garbage (even NaN).
__device__ __forceinline__ void store_result(const Problem& p, int m, int n, float acc) {
  float value = p.alpha * acc;
  if (p.bias != nullptr) value += p.bias[n];
  float* c = p.c + int64_t(m) * p.ldc + n;
  if (p.beta != 0.f) value = fmaf(p.beta, *c, value);
  *c = value;
}

// Blocks are numbered along grid.x alone (up to 2^31 - 1 of them; y and z stop at 65535)
// and split here into the row and column of the output tile they compute.
struct Tile {
  int row, col;
};
__device__ __forceinline__ Tile tile_of_block(int tile_cols) {
  return {int(blockIdx.x) / tile_cols, int(blockIdx.x) % tile_cols};
}

__host__ __device__ constexpr int ceil_div(int64_t a, int64_t b) { return int((a + b - 1) / b); }

// ---- Device primitives -----------------------------------------------------------------

#if defined(EMBER_CUDA_EMULATOR)
inline float4 load_float4(const float* p) { return emulator::load_float4(p); }
inline void store_float4(float* p, float4 v) { emulator::store_float4(p, v); }
inline void cp_async_16(float* dst, const float* src, int src_bytes) {
  emulator::copy_async(dst, src, 16, src_bytes);
}
inline void cp_async_4(float* dst, const float* src, int src_bytes) {
  emulator::copy_async(dst, src, 4, src_bytes);
}
inline void cp_async_commit() { emulator::commit_group(); }
template <int PENDING>
inline void cp_async_wait() {
  emulator::wait_group(PENDING);
}
inline uint32_t to_tf32(float x) { return emulator::to_tf32(x); }
inline void mma_tf32_16x8x8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  emulator::mma_tf32_16x8x8(d, a, b);
}
inline float* dynamic_shared_memory() { return emulator::dynamic_shared_memory(); }
#else
// 16-byte loads and stores need 16-byte aligned addresses; callers check.
__device__ __forceinline__ float4 load_float4(const float* p) {
  return *reinterpret_cast<const float4*>(p);
}
__device__ __forceinline__ void store_float4(float* p, float4 v) {
  *reinterpret_cast<float4*>(p) = v;
}

// cp.async copies global to shared memory without passing through registers, and the
// thread goes on while the copy is in flight. The first src_bytes are read and the rest of
// the destination is zero-filled, which is how tiles are padded at the matrix edges
// (src_bytes = 0 reads nothing). .cg skips L1: each 16 bytes are read once per block.
__device__ __forceinline__ void cp_async_16(float* dst, const float* src, int src_bytes) {
  const unsigned shared_address = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address), "l"(src),
               "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_4(float* dst, const float* src, int src_bytes) {
  const unsigned shared_address = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(shared_address), "l"(src),
               "r"(src_bytes)
               : "memory");
}
// Closes the group of copies issued since the last commit.
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
// Waits until at most PENDING of this thread's committed groups are still in flight. Other
// threads' copies become visible only after a __syncthreads() that follows.
template <int PENDING>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING) : "memory");
}

// Rounds to TF32 (10-bit mantissa) to nearest, ties away from zero. mma.sync would
// otherwise just drop the low 13 bits, which doubles the error.
__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t result;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(result) : "f"(x));
  return result;
}

// d += a·b for a 16x8 tile d, a 16x8 tile a and an 8x8 tile b, spread over the 32 lanes of
// the warp. With g = lane / 4 and t = lane % 4 (PTX ISA, "Matrix Fragments for
// mma.m16n8k8", .tf32): a = {(g, t), (g+8, t), (g, t+4), (g+8, t+4)} as (row, k),
// b = {(t, g), (t+4, g)} as (k, column), d = {(g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1)}.
__device__ __forceinline__ void mma_tf32_16x8x8(float (&d)[4], const uint32_t (&a)[4],
                                                const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Shared memory sized at launch; float4 so that it starts 16-byte aligned.
__device__ __forceinline__ float* dynamic_shared_memory() {
  extern __shared__ float4 dynamic_shared[];
  return reinterpret_cast<float*>(dynamic_shared);
}
#endif

// ---- Tile loaders ----------------------------------------------------------------------
// Each loads the part of an operand a block needs for one step along K: the [BK, BI] tile
// whose corner is (k0, i0). Shared memory holds it k-major, tile[k * STRIDE + i], so the
// inner loops read a row of A's tile and a row of B's tile at the same k. Elements past the
// matrix land as zeros, so inner loops need no bounds checks: a zero in A's tile only meets
// rows of C that are never stored, and k beyond K has zeros on both sides.
//
// Consecutive threads always walk the operand's contiguous dimension, so every global read
// is coalesced whatever the transposes. When k is contiguous the tile is transposed on its
// way into shared memory; a padded STRIDE (33 for runs of 32 along k, % 32 == 4 for runs of
// 8) keeps those scattered writes in 32 different banks.

// Copies a [ROWS, COLS] block whose COLS run contiguously in global memory (row stride ld)
// into shared memory, either as is (dst[r * STRIDE + c]) or TRANSPOSED (dst[c * STRIDE + r]).
// Only the first rows_valid x cols_valid elements are read; the rest are zeros.
template <int ROWS, int COLS, int STRIDE, int THREADS, bool TRANSPOSED>
__device__ __forceinline__ void load_block(const float* src, int64_t ld, int rows_valid,
                                           int cols_valid, float* dst, int thread) {
  static_assert(ROWS * COLS % THREADS == 0, "every thread loads as many elements");
#pragma unroll
  for (int j = 0; j < ROWS * COLS / THREADS; ++j) {
    const int e = thread + j * THREADS, r = e / COLS, c = e % COLS;
    const float value = (r < rows_valid && c < cols_valid) ? src[int64_t(r) * ld + c] : 0.f;
    dst[TRANSPOSED ? c * STRIDE + r : r * STRIDE + c] = value;
  }
}

// The [BK, BI] tile of `op` at (k0, i0), k-major with row stride STRIDE, one element per
// load (kernels 3 to 5).
template <int BK, int BI, int STRIDE, int THREADS>
__device__ __forceinline__ void load_tile(const Operand& op, int K, int k0, int i0, float* tile,
                                          int thread) {
  const float* corner = op.address(k0, i0);
  if (op.k_contiguous) {
    load_block<BI, BK, STRIDE, THREADS, true>(corner, op.ld, op.extent - i0, K - k0, tile, thread);
  } else {
    load_block<BK, BI, STRIDE, THREADS, false>(corner, op.ld, K - k0, op.extent - i0, tile, thread);
  }
}

// load_block with 16-byte loads: each thread moves four neighbours along the contiguous
// dimension as one float4 when the operand is vector_aligned and all four lie inside the
// matrix, and falls back to four guarded scalar loads otherwise (kernel 6).
template <int ROWS, int COLS, int STRIDE, int THREADS, bool TRANSPOSED>
__device__ __forceinline__ void load_block_vec4(const float* src, int64_t ld, int rows_valid,
                                                int cols_valid, bool vector_aligned, float* dst,
                                                int thread) {
  static_assert(COLS % 4 == 0 && STRIDE % 4 == 0, "float4 rows");
  static_assert(ROWS * COLS / 4 % THREADS == 0, "every thread loads as many vectors");
#pragma unroll
  for (int j = 0; j < ROWS * COLS / 4 / THREADS; ++j) {
    const int v = thread + j * THREADS, r = v / (COLS / 4), c = v % (COLS / 4) * 4;
    const float* from = src + int64_t(r) * ld + c;
    float4 value;
    if (vector_aligned && r < rows_valid && c + 4 <= cols_valid) {
      value = load_float4(from);
    } else {
      const bool row_inside = r < rows_valid;
      value.x = row_inside && c + 0 < cols_valid ? from[0] : 0.f;
      value.y = row_inside && c + 1 < cols_valid ? from[1] : 0.f;
      value.z = row_inside && c + 2 < cols_valid ? from[2] : 0.f;
      value.w = row_inside && c + 3 < cols_valid ? from[3] : 0.f;
    }
    if (TRANSPOSED) {
      dst[(c + 0) * STRIDE + r] = value.x;
      dst[(c + 1) * STRIDE + r] = value.y;
      dst[(c + 2) * STRIDE + r] = value.z;
      dst[(c + 3) * STRIDE + r] = value.w;
    } else {
      store_float4(dst + r * STRIDE + c, value);
    }
  }
}

template <int BK, int BI, int STRIDE, int THREADS>
__device__ __forceinline__ void load_tile_vec4(const Operand& op, int K, int k0, int i0,
                                               float* tile, int thread) {
  const float* corner = op.address(k0, i0);
  if (op.k_contiguous) {
    load_block_vec4<BI, BK, STRIDE, THREADS, true>(corner, op.ld, op.extent - i0, K - k0,
                                                   op.vector_aligned, tile, thread);
  } else {
    load_block_vec4<BK, BI, STRIDE, THREADS, false>(corner, op.ld, K - k0, op.extent - i0,
                                                    op.vector_aligned, tile, thread);
  }
}

// load_block as cp.async (kernels 7 and 8), untransposed: 16-byte copies when the operand
// is vector_aligned (a partial vector at the edge reads only its valid bytes), else 4-byte
// copies. Nothing is read outside the matrix; the corner `src` is always inside it and
// stands in as the address of copies that read nothing.
template <int ROWS, int COLS, int STRIDE, int THREADS>
__device__ __forceinline__ void copy_block_async(const float* src, int64_t ld, int rows_valid,
                                                 int cols_valid, bool vector_aligned, float* dst,
                                                 int thread) {
  static_assert(COLS % 4 == 0 && STRIDE % 4 == 0, "16-byte rows");
  static_assert(ROWS * COLS / 4 % THREADS == 0, "every thread copies as many vectors");
  if (vector_aligned) {
#pragma unroll
    for (int j = 0; j < ROWS * COLS / 4 / THREADS; ++j) {
      const int v = thread + j * THREADS, r = v / (COLS / 4), c = v % (COLS / 4) * 4;
      const int left = cols_valid - c;
      const int valid = r >= rows_valid || left <= 0 ? 0 : left < 4 ? left : 4;
      cp_async_16(dst + r * STRIDE + c, valid > 0 ? src + int64_t(r) * ld + c : src, valid * 4);
    }
  } else {
#pragma unroll
    for (int j = 0; j < ROWS * COLS / THREADS; ++j) {
      const int e = thread + j * THREADS, r = e / COLS, c = e % COLS;
      const bool inside = r < rows_valid && c < cols_valid;
      cp_async_4(dst + r * STRIDE + c, inside ? src + int64_t(r) * ld + c : src, inside ? 4 : 0);
    }
  }
}

// The transposing cp.async copy (k-contiguous operands in kernels 7 and 8): lands element
// (r, c) at dst[c * STRIDE + r]. A 16-byte copy cannot scatter over four rows, so each
// element is its own 4-byte copy. A warp takes a patch of PATCH_ROWS rows x 32 / PATCH_ROWS
// columns, whose shared-memory addresses c * STRIDE + r fall in 32 different banks when
// STRIDE % 32 == PATCH_ROWS (4 rows x 8 columns with STRIDE % 32 == 4, or 8 x 4 with
// STRIDE % 32 == 8); in global memory each row of a patch is 32 or 16 contiguous bytes.
template <int ROWS, int COLS, int STRIDE, int THREADS, int PATCH_ROWS>
__device__ __forceinline__ void copy_block_transposed_async(const float* src, int64_t ld,
                                                            int rows_valid, int cols_valid,
                                                            float* dst, int thread) {
  constexpr int kPatchCols = 32 / PATCH_ROWS;
  static_assert(STRIDE % 32 == PATCH_ROWS, "conflict-free transposing stores");
  static_assert(ROWS % PATCH_ROWS == 0 && COLS % kPatchCols == 0 && THREADS % 32 == 0, "patches");
  static_assert(ROWS * COLS % THREADS == 0, "every thread copies as many elements");
#pragma unroll
  for (int j = 0; j < ROWS * COLS / THREADS; ++j) {
    const int e = thread + j * THREADS, patch = e / 32, lane = e % 32;
    const int r = patch / (COLS / kPatchCols) * PATCH_ROWS + lane / kPatchCols;
    const int c = patch % (COLS / kPatchCols) * kPatchCols + lane % kPatchCols;
    const bool inside = r < rows_valid && c < cols_valid;
    cp_async_4(dst + c * STRIDE + r, inside ? src + int64_t(r) * ld + c : src, inside ? 4 : 0);
  }
}

// The [BK, BI] tile of `op` at (k0, i0) as cp.async copies, k-major with row stride STRIDE
// (kernels 7 and 8): 16-byte copies when i is contiguous and the operand vector_aligned,
// 4-byte copies otherwise.
template <int BK, int BI, int STRIDE, int THREADS, int PATCH_ROWS>
__device__ __forceinline__ void copy_tile_async(const Operand& op, int K, int k0, int i0,
                                                float* tile, int thread) {
  const float* corner = op.address(k0, i0);
  if (op.k_contiguous) {
    copy_block_transposed_async<BI, BK, STRIDE, THREADS, PATCH_ROWS>(corner, op.ld, op.extent - i0,
                                                                     K - k0, tile, thread);
  } else {
    copy_block_async<BK, BI, STRIDE, THREADS>(corner, op.ld, K - k0, op.extent - i0,
                                              op.vector_aligned, tile, thread);
  }
}

// ---- Launching -------------------------------------------------------------------------

// Throws ember::Error naming `what` when a CUDA call failed (defined in gemm.cu).
void check_cuda(cudaError_t status, const char* what);

// Launches kernel(args...) on `blocks` blocks of `threads` threads and checks the launch.
// (cudaLaunchKernel is the <<<...>>> launch as a function.) Kernels that need more than
// 48 KiB of shared memory must be allowed it first.
template <class... Params, class... Args>
void launch_kernel(void (*kernel)(Params...), const char* name, int64_t blocks, int threads,
                   int shared_bytes, cudaStream_t stream, Args... args) {
  if (blocks <= 0) return;
  if (blocks > INT32_MAX) check_cuda(cudaErrorInvalidConfiguration, name);
#if defined(EMBER_CUDA_EMULATOR)
  emulator::launch(dim3(unsigned(blocks)), dim3(unsigned(threads)), shared_bytes,
                   [&] { kernel(args...); });
  (void)name;
  (void)stream;
#else
  if (shared_bytes > 48 * 1024) {
    check_cuda(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, shared_bytes),
        name);
  }
  void* arguments[] = {&args...};
  check_cuda(cudaLaunchKernel(reinterpret_cast<const void*>(kernel), dim3(unsigned(blocks)),
                              dim3(unsigned(threads)), arguments, size_t(shared_bytes), stream),
             name);
  check_cuda(cudaGetLastError(), name);
#endif
}

}  // namespace ember::kernels::cuda::detail
