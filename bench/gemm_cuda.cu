// Every CUDA GEMM kernel against cuBLAS on square products C = A·B, M = N = K from 1024 to
// 8192 (or the sizes given as arguments). Each cell is the median of 20 runs timed with CUDA
// events after two warm-up runs (fewer runs, at least 3, for a kernel so slow that 20 would
// take over 15 seconds; the table says so). Inputs are uniform in [-1, 1), never zeros, and
// every kernel's result is compared with cuBLAS's. Float32 kernels are measured against
// cuBLAS with CUBLAS_COMPUTE_32F, TF32 ones against CUBLAS_COMPUTE_32F_FAST_TF32.
//
//   gemm_cuda                 1024 2048 4096 8192
//   gemm_cuda 1024 4096       chosen sizes
//
// Without a CUDA device it says so and exits 0.

#include <ember/kernels/cuda/gemm.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <vector>

namespace {

using ember::kernels::cuda::GemmKernel;
namespace cuda = ember::kernels::cuda;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    std::fprintf(stderr, "gemm_cuda: %s failed: %s\n", what, cudaGetErrorString(status));
    std::exit(1);
  }
}

// Uniform in [-1, 1) from a hash of the index: reproducible, and never all zeros.
__global__ void fill_uniform(float* data, int64_t count, uint64_t seed) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  uint64_t x = uint64_t(i) + seed * 0x9e3779b97f4a7c15ull;  // splitmix64
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  data[i] = float(x >> 40) * (2.f / 16777216.f) - 1.f;
}

// Largest |x - y| and largest |y|, as float bits (non-negative floats order like their
// bits), over `count` elements.
__global__ void max_difference(const float* x, const float* y, int64_t count, unsigned* result) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  atomicMax(&result[0], __float_as_uint(fabsf(x[i] - y[i])));
  atomicMax(&result[1], __float_as_uint(fabsf(y[i])));
}

int blocks_for(int64_t count) { return int((count + 255) / 256); }

struct Cell {
  double gflops = 0;
  double relative_difference = 0;  // max |C - C_cublas| / max |C_cublas|
  int runs = 0;
};

// Times `kernel` on n x n x n: two warm-up runs, then up to 20 timed ones, median kept.
Cell measure(GemmKernel kernel, int64_t n, const float* A, const float* B, float* C) {
  cuda::GemmOptions options;
  options.kernel = kernel;
  const auto run = [&] { cuda::gemm(false, false, n, n, n, 1.f, A, n, B, n, 0.f, C, n, options); };
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  std::vector<float> milliseconds;
  float spent = 0.f;
  for (int i = 0; i < 22; ++i) {
    check(cudaEventRecord(start), "cudaEventRecord");
    run();
    check(cudaEventRecord(stop), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0.f;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    if (i < 2) continue;  // warm-up: clocks, caches, cuBLAS's heuristics
    milliseconds.push_back(ms);
    spent += ms;
    if (spent > 15000.f && milliseconds.size() >= 3) break;
  }
  check(cudaGetLastError(), "kernel launch");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(milliseconds.begin(), milliseconds.end());
  const double median = milliseconds[milliseconds.size() / 2];
  Cell cell;
  cell.gflops = 2.0 * double(n) * double(n) * double(n) / (median * 1e-3) / 1e9;
  cell.runs = int(milliseconds.size());
  return cell;
}

double relative_difference(const float* C, const float* reference, int64_t count,
                           unsigned* scratch) {
  check(cudaMemset(scratch, 0, 2 * sizeof(unsigned)), "cudaMemset");
  max_difference<<<blocks_for(count), 256>>>(C, reference, count, scratch);
  check(cudaGetLastError(), "max_difference launch");
  unsigned bits[2];
  check(cudaMemcpy(bits, scratch, sizeof bits, cudaMemcpyDeviceToHost), "cudaMemcpy");
  float difference, magnitude;
  std::memcpy(&difference, &bits[0], sizeof difference);
  std::memcpy(&magnitude, &bits[1], sizeof magnitude);
  return magnitude > 0 ? double(difference) / double(magnitude) : double(difference);
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<int64_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoll(argv[i]));
  if (sizes.empty()) sizes = {1024, 2048, 4096, 8192};
  for (int64_t n : sizes) {
    if (n <= 0) {
      std::fprintf(stderr, "usage: gemm_cuda [size ...]   (sizes must be positive)\n");
      return 2;
    }
  }

  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0) {
    std::printf("gemm_cuda: no CUDA device (%s); nothing to measure\n",
                status != cudaSuccess ? cudaGetErrorString(status) : "none found");
    return 0;
  }
  cudaDeviceProp properties;
  check(cudaGetDeviceProperties(&properties, 0), "cudaGetDeviceProperties");
  std::printf("gemm_cuda: %s, %d SMs, compute capability %d.%d\n", properties.name,
              properties.multiProcessorCount, properties.major, properties.minor);

  const int64_t largest = *std::max_element(sizes.begin(), sizes.end());
  const int64_t elements = largest * largest;
  float *A, *B, *C, *reference;
  unsigned* scratch;
  check(cudaMalloc(&A, elements * sizeof(float)), "cudaMalloc");
  check(cudaMalloc(&B, elements * sizeof(float)), "cudaMalloc");
  check(cudaMalloc(&C, elements * sizeof(float)), "cudaMalloc");
  check(cudaMalloc(&reference, elements * sizeof(float)), "cudaMalloc");
  check(cudaMalloc(&scratch, 2 * sizeof(unsigned)), "cudaMalloc");
  fill_uniform<<<blocks_for(elements), 256>>>(A, elements, 1);
  fill_uniform<<<blocks_for(elements), 256>>>(B, elements, 2);
  check(cudaGetLastError(), "fill_uniform launch");

  std::map<std::pair<GemmKernel, int64_t>, Cell> cells;
  const auto started = std::chrono::steady_clock::now();
  for (int64_t n : sizes) {
    for (GemmKernel kernel : cuda::all_gemm_kernels) {
      Cell cell = measure(kernel, n, A, B, C);
      // Compared with cuBLAS of the same precision, computed into `reference` just before.
      const GemmKernel peer =
          cuda::uses_tf32(kernel) ? GemmKernel::cublas_tf32 : GemmKernel::cublas;
      cuda::GemmOptions options;
      options.kernel = peer;
      cuda::gemm(false, false, n, n, n, 1.f, A, n, B, n, 0.f, reference, n, options);
      cell.relative_difference = relative_difference(C, reference, n * n, scratch);
      cells[{kernel, n}] = cell;
      std::printf("  %-13s n = %5lld  %9.1f GFLOPS  (%2d runs, max rel. diff vs %s %.1e)\n",
                  std::string(cuda::kernel_name(kernel)).c_str(), static_cast<long long>(n),
                  cell.gflops, cell.runs, std::string(cuda::kernel_name(peer)).c_str(),
                  cell.relative_difference);
      std::fflush(stdout);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  // The table, last: GFLOPS and percent of cuBLAS in the same precision.
  std::printf(
      "\nGEMM C = A·B, float32 row-major, M = N = K; GFLOPS (%% of cuBLAS, same "
      "precision); %s; %.0f s\n\n",
      properties.name, seconds);
  std::printf("| kernel        |");
  for (int64_t n : sizes) std::printf(" %18lld |", static_cast<long long>(n));
  std::printf("\n|---------------|");
  for (std::size_t i = 0; i < sizes.size(); ++i) std::printf("--------------------|");
  std::printf("\n");
  bool fewer_runs = false;
  for (GemmKernel kernel : cuda::all_gemm_kernels) {
    std::printf("| %-13s |", std::string(cuda::kernel_name(kernel)).c_str());
    for (int64_t n : sizes) {
      const Cell& cell = cells[{kernel, n}];
      const GemmKernel peer =
          cuda::uses_tf32(kernel) ? GemmKernel::cublas_tf32 : GemmKernel::cublas;
      const double percent = 100.0 * cell.gflops / cells[{peer, n}].gflops;
      fewer_runs = fewer_runs || cell.runs < 20;
      std::printf(" %8.0f (%5.1f%%)%s |", cell.gflops, percent, cell.runs < 20 ? "*" : " ");
    }
    std::printf("\n");
  }
  if (fewer_runs)
    std::printf("\n* median of fewer than 20 runs (at least 3): 20 would take over 15 s\n");
  cudaFree(A);
  cudaFree(B);
  cudaFree(C);
  cudaFree(reference);
  cudaFree(scratch);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "gemm_cuda: %s\n", e.what());
  return 1;
}
