// Core benchmark: the fixed cost of one recorded op on small tensors, and matmul throughput
// against plain Eigen, measured in the same run. Prints a table; every row is a median.
// Plain Eigen is compiled with -march=native -mtune=generic whatever the library's build, so the
// matmul rows show whether ember's GEMM, at the CPU level it chose at run time, keeps up with the
// best this machine can do.

#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include <ember/ember.h>
#include <ember/kernels/cpu/cpu_level.h>

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

// Median over `repeats` runs of the seconds one call of `body` takes, each run timing
// `iterations` calls back to back.
double median_seconds(int repeats, int iterations, const std::function<void()>& body) {
  std::vector<double> samples;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    for (int i = 0; i < iterations; ++i) body();
    samples.push_back(std::chrono::duration<double>(Clock::now() - start).count() / iterations);
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

// Keeps the optimiser from deleting work whose result is otherwise unused.
volatile float sink = 0;

}  // namespace

int main() {
  std::printf("CPU kernels: %s (set EMBER_CPU=baseline|avx2|avx512 to choose)\n\n",
              kernels::cpu::cpu_level_name(kernels::cpu::cpu_level()));
  std::printf("%-52s %12s\n", "small-op overhead ([10, 10] float32)", "ns per call");
  manual_seed(0);
  const Tensor a = randn({10, 10}, true), b = randn({10, 10}, true);
  const Tensor a_const = a.detach(), b_const = b.detach();
  const double recorded = median_seconds(9, 200000, [&] { sink = add(a, b).data()[0]; });
  const double unrecorded =
      median_seconds(9, 200000, [&] { sink = add(a_const, b_const).data()[0]; });
  const double mul_recorded = median_seconds(9, 200000, [&] { sink = mul(a, b).data()[0]; });
  const double forward_backward = median_seconds(9, 50000, [&] {
    Tensor loss = sum(mul(add(a, b), a));
    loss.backward();
  });
  std::printf("%-52s %12.0f\n", "add, inputs require grad (node recorded)", recorded * 1e9);
  std::printf("%-52s %12.0f\n", "add, constants (no node)", unrecorded * 1e9);
  std::printf("%-52s %12.0f\n", "mul, inputs require grad (saves both inputs)", mul_recorded * 1e9);
  std::printf("%-52s %12.0f\n", "sum((a + b) * a) forward + backward (3 ops)",
              forward_backward * 1e9);

  const int n = 1024;
  const double flops = 2.0 * n * n * n;
  std::printf("\n%-52s %12s\n", "matmul 1024 x 1024 x 1024 float32", "GFLOP/s");
  const Tensor x = randn({n, n}), y = randn({n, n});
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Matrix ex = Matrix::Random(n, n), ey = Matrix::Random(n, n);
  Matrix ez(n, n);
  // Alternate the two so that load from elsewhere on the machine hits both alike.
  std::vector<double> ember_runs, eigen_runs;
  for (int r = 0; r < 11; ++r) {
    ember_runs.push_back(median_seconds(1, 3, [&] { sink = matmul(x, y).data()[0]; }));
    eigen_runs.push_back(median_seconds(1, 3, [&] {
      ez.noalias() = ex * ey;
      sink = ez(0, 0);
    }));
  }
  std::sort(ember_runs.begin(), ember_runs.end());
  std::sort(eigen_runs.begin(), eigen_runs.end());
  const double ember_time = ember_runs[5], eigen_time = eigen_runs[5];
  std::printf("%-52s %12.1f\n", "ember::matmul", flops / ember_time * 1e-9);
  std::printf("%-52s %12.1f\n", "plain Eigen, -march=native (C.noalias() = A * B)",
              flops / eigen_time * 1e-9);
  std::printf("%-52s %11.1f%%\n", "ember / Eigen", 100.0 * eigen_time / ember_time);
  return 0;
}
