#pragma once
// A CPU emulator for the CUDA GEMM kernels in kernels/cuda, so that their indexing, bounds,
// shared-memory staging, barriers, cp.async pipelines and mma.sync fragments are tested on
// machines without a GPU. It compiles the kernels' own source with the host compiler
// (EMBER_CUDA_EMULATOR; kernels/cuda/common.cuh then includes this header, as <emulator.h>
// through the test target's include path, instead of CUDA's).
//
// How it runs a launch: blocks one after another; each CUDA thread of a block is a fiber
// (ucontext) with its own stack. Fibers run until they reach a barrier, in a shuffled order
// that changes every round, so a missing __syncthreads() shows as a wrong result.
// cp.async copies land as late as the program allows (at the wait that covers them), so a
// missing wait shows too. mma.sync exchanges its fragments through the warp exactly as
// the PTX ISA lays them out. `__shared__` becomes `static`: one copy, shared by the
// threads of the block running now. What it does not model: timing, warps executing in
// lock step, and anything the kernels do not use.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
using cudaStream_t = struct CUstream_st*;
enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorInvalidConfiguration = 9 };

// The running thread's coordinates; the scheduler sets them before resuming a fiber.
inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

namespace ember::emulator {

/// Runs body() as every thread of every block of the grid. Throws std::runtime_error when a
/// thread throws, or on a barrier that some threads never reach.
void launch(dim3 grid, dim3 block, int dynamic_shared_bytes, const std::function<void()>& body);

/// Seeds the order in which fibers are resumed (each launch draws from it).
void set_schedule_seed(uint64_t seed);

void sync_threads();
float* dynamic_shared_memory();
void copy_async(float* dst, const float* src, int bytes, int src_bytes);
void commit_group();
void wait_group(int pending);
uint32_t to_tf32(float x);
void mma_tf32_16x8x8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);

inline float4 load_float4(const float* p) {
  float4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_float4(float* p, float4 v) { std::memcpy(p, &v, sizeof v); }

}  // namespace ember::emulator

inline void __syncthreads() { ember::emulator::sync_threads(); }

namespace ember::kernels::cuda::detail {
// The real one (kernels/cuda/gemm.cu) throws ember::Error; here std::runtime_error will do.
void check_cuda(cudaError_t status, const char* what);
}  // namespace ember::kernels::cuda::detail
