#pragma once
// Device helpers for the [cuda] tests: whether a device is present, checked CUDA calls, and
// device buffers with guard zones.

#include <cuda_runtime.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace ember::test {

/// "" when a CUDA device can be used, else why not. cudaGetDeviceCount's return code is
/// what counts: without a driver it fails and leaves the count undefined.
inline std::string why_no_device() {
  int count = -1;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(status);
  }
  if (count <= 0) return "no CUDA device";
  return "";
}

// Catch2 v2 has no SKIP: a test without a device warns and returns, and so passes.
#define EMBER_REQUIRE_CUDA_DEVICE()                                     \
  do {                                                                  \
    const std::string ember_no_device = ::ember::test::why_no_device(); \
    if (!ember_no_device.empty()) {                                     \
      WARN("skipped, needs a CUDA device: " << ember_no_device);        \
      return;                                                           \
    }                                                                   \
  } while (false)

#define EMBER_CUDA_CHECK(call)                               \
  do {                                                       \
    const cudaError_t ember_status = (call);                 \
    INFO(#call << ": " << cudaGetErrorString(ember_status)); \
    REQUIRE(ember_status == cudaSuccess);                    \
  } while (false)

/// A device copy of a host buffer with kGuard floats of sentinel on both sides, so that a
/// kernel writing past either end is seen when the buffer is read back.
class DeviceBuffer {
 public:
  static constexpr std::size_t kGuard = 64;  // 256 bytes: the data starts 256-byte aligned
  static constexpr float kSentinel = -9876.f;

  explicit DeviceBuffer(const std::vector<float>& values) : size_(values.size()) {
    std::vector<float> padded(size_ + 2 * kGuard, kSentinel);
    std::copy(values.begin(), values.end(), padded.begin() + kGuard);
    EMBER_CUDA_CHECK(cudaMalloc(&memory_, padded.size() * sizeof(float)));
    EMBER_CUDA_CHECK(
        cudaMemcpy(memory_, padded.data(), padded.size() * sizeof(float), cudaMemcpyHostToDevice));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(memory_); }

  float* data() { return memory_ + kGuard; }

  /// The values, after checking that the guards are intact.
  std::vector<float> read() const {
    std::vector<float> padded(size_ + 2 * kGuard);
    EMBER_CUDA_CHECK(
        cudaMemcpy(padded.data(), memory_, padded.size() * sizeof(float), cudaMemcpyDeviceToHost));
    for (std::size_t i = 0; i < kGuard; ++i) {
      INFO("guard element " << i << " before and after the buffer");
      REQUIRE(padded[i] == kSentinel);
      REQUIRE(padded[kGuard + size_ + i] == kSentinel);
    }
    return std::vector<float>(padded.begin() + kGuard, padded.begin() + kGuard + size_);
  }

 private:
  float* memory_ = nullptr;
  std::size_t size_;
};

}  // namespace ember::test
