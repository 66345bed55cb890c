// A program that links ember::cuda alone, built against an installed copy of the library.
// gemm() checks its arguments before it touches a device, so this runs without a GPU.
#include <ember/error.h>
#include <ember/kernels/cuda/gemm.h>

#include <cstdio>

int main() {
  namespace cuda = ember::kernels::cuda;
  std::printf("ember cuda consumer: %d CUDA device(s)\n", cuda::device_count());
  try {
    cuda::gemm(false, false, -1, 1, 1, 1.f, nullptr, 1, nullptr, 1, 0.f, nullptr, 1);
  } catch (const ember::Error& e) {
    std::printf("ember cuda consumer: M = -1 throws ember::Error: %s\n", e.what());
    return 0;
  }
  std::printf("ember cuda consumer: FAILED, M = -1 did not throw ember::Error\n");
  return 1;
}
