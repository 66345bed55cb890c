// Compiled for this machine (-march=native -mtune=generic): the Eigen column is the best plain
// Eigen can do here; the peak loop picks its instructions at run time, so it is right on any
// x86-64.

#include "machine.h"

#include <Eigen/Core>

#if defined(EMBER_BENCH_OPENBLAS)
#include <cblas.h>
#endif
#if defined(EMBER_BENCH_LIBXSMM)
#include <libxsmm.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include <ember/ember.h>
#include <ember/kernels/cpu/cpu_level.h>
#include <ember/kernels/cpu/gemm.h>

namespace scoreboard {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One thread's FMA loop: 12 accumulators, each acc = acc * a + b per iteration, so 12
// independent dependency chains cover the FMA latency (4-5 cycles) times its 2 ports. The
// returned sum keeps the loop from being optimised away. Flops per iteration: 12 x lanes x 2.
#if defined(__x86_64__)
__attribute__((target("avx512f"))) float fma_avx512(int64_t iterations) {
  __m512 acc[12];
  for (auto& a : acc) a = _mm512_set1_ps(1.f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iterations; ++i) {
    for (auto& x : acc) x = _mm512_fmadd_ps(x, a, b);
  }
  alignas(64) float lanes[16];
  float sum = 0;
  for (auto& x : acc) {
    _mm512_store_ps(lanes, x);
    for (float v : lanes) sum += v;
  }
  return sum;
}

__attribute__((target("avx2,fma"))) float fma_avx2(int64_t iterations) {
  __m256 acc[12];
  for (auto& a : acc) a = _mm256_set1_ps(1.f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iterations; ++i) {
    for (auto& x : acc) x = _mm256_fmadd_ps(x, a, b);
  }
  alignas(32) float lanes[8];
  float sum = 0;
  for (auto& x : acc) {
    _mm256_store_ps(lanes, x);
    for (float v : lanes) sum += v;
  }
  return sum;
}
#endif

// Without FMA: a multiply and an add per element (the same flop count per lane and step).
float fma_scalar_vectors(int64_t iterations) {
  using Vector = float __attribute__((vector_size(16)));
  Vector acc[12];
  for (auto& a : acc) a = Vector{1.f, 1.f, 1.f, 1.f};
  const Vector a = {0.999999f, 0.999999f, 0.999999f, 0.999999f}, b = {1e-7f, 1e-7f, 1e-7f, 1e-7f};
  for (int64_t i = 0; i < iterations; ++i) {
    for (auto& x : acc) x = x * a + b;
  }
  float sum = 0;
  for (auto& x : acc) sum += x[0] + x[1] + x[2] + x[3];
  return sum;
}

struct PeakLoop {
  float (*run)(int64_t);
  int lanes;
};

PeakLoop widest_loop() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return {fma_avx512, 16};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {fma_avx2, 8};
#endif
  return {fma_scalar_vectors, 4};
}

volatile float sink = 0;

std::string read_first(const char* path, const std::string& key) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
  }
  return "unknown";
}

}  // namespace

std::vector<double> load_average() {
  std::ifstream in("/proc/loadavg");
  std::vector<double> load(3);
  if (!(in >> load[0] >> load[1] >> load[2])) return {};
  return load;
}

nlohmann::json describe_machine() {
  nlohmann::json m;
  m["cpu"] = read_first("/proc/cpuinfo", "model name");
  m["logical_cpus"] = std::thread::hardware_concurrency();
  m["compiler"] = std::string(
#if defined(__clang__)
      "clang "
#else
      "g++ "
#endif
      __VERSION__);
  m["library_flags"] = EMBER_BENCH_LIBRARY_FLAGS;
  m["bench_flags"] = EMBER_BENCH_FLAGS;
  m["ember_gemm_level"] = ember::kernels::cpu::cpu_level_name(ember::kernels::cpu::cpu_level());
  m["ember_blas"] = EMBER_BENCH_LIBRARY_BLAS;
  m["eigen"] = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
               "." + std::to_string(EIGEN_MINOR_VERSION);
#if defined(EMBER_BENCH_OPENBLAS)
  m["openblas"] = openblas_get_config();
#else
  m["openblas"] = nullptr;
#endif
#if defined(EMBER_BENCH_LIBXSMM)
  m["libxsmm"] = LIBXSMM_VERSION;
#else
  m["libxsmm"] = nullptr;
#endif
  return m;
}

double peak_gflops(int threads, bool smoke) {
  const PeakLoop loop = widest_loop();
  // Many short runs (about 5 ms each): on a shared machine some of them run undisturbed.
  const int64_t iterations = smoke ? 200000 : 2000000;
  double best = 0;
  for (int run = 0; run < (smoke ? 1 : 40); ++run) {
    std::vector<std::thread> workers;
    std::vector<float> results(static_cast<size_t>(threads), 0.f);
    const auto start = Clock::now();
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] { results[size_t(t)] = loop.run(iterations); });
    for (auto& w : workers) w.join();
    const double seconds = seconds_since(start);
    for (float r : results) sink = sink + r;
    best =
        std::max(best, double(threads) * double(iterations) * 12 * loop.lanes * 2 / seconds * 1e-9);
  }
  return best;
}

nlohmann::json gemm_section(const std::vector<std::vector<int64_t>>& shapes,
                            const std::vector<int>& threads, const std::vector<double>& peak,
                            const TimingOptions& timing) {
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  nlohmann::json rows = nlohmann::json::array();
  Table table({"threads", "M×N×K", "ember matmul", "ember gemm kernel", "plain Eigen", "OpenBLAS",
               "libxsmm", "ember / best library", "ember / peak"});
  for (size_t ti = 0; ti < threads.size(); ++ti) {
    const int t = threads[ti];
    ember::set_num_threads(t);
    Eigen::setNbThreads(t);
#if defined(EMBER_BENCH_OPENBLAS)
    openblas_set_num_threads(t);
#endif
    for (const auto& shape : shapes) {
      const int64_t M = shape[0], N = shape[1], K = shape[2];
      ember::manual_seed(0);
      const ember::Tensor a = ember::randn({M, K}), b = ember::randn({K, N});
      const Matrix ea = Matrix::Random(M, K), eb = Matrix::Random(K, N);
      Matrix ec(M, N);
      std::vector<float> c(size_t(M * N));
      std::vector<Runner> runners(5);
      runners[0] = [&](int64_t calls) {
        const auto start = Clock::now();
        for (int64_t i = 0; i < calls; ++i) sink = sink + ember::matmul(a, b).data()[0];
        return seconds_since(start);
      };
      runners[1] = [&](int64_t calls) {
        const auto start = Clock::now();
        for (int64_t i = 0; i < calls; ++i)
          ember::kernels::cpu::gemm(false, false, M, N, K, 1.f, a.data(), K, b.data(), N, 0.f,
                                    c.data(), N);
        sink = sink + c[0];
        return seconds_since(start);
      };
      runners[2] = [&](int64_t calls) {
        const auto start = Clock::now();
        for (int64_t i = 0; i < calls; ++i) ec.noalias() = ea * eb;
        sink = sink + ec(0, 0);
        return seconds_since(start);
      };
#if defined(EMBER_BENCH_OPENBLAS)
      runners[3] = [&](int64_t calls) {
        const auto start = Clock::now();
        for (int64_t i = 0; i < calls; ++i)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(M), int(N), int(K), 1.f,
                      a.data(), int(K), b.data(), int(N), 0.f, c.data(), int(N));
        sink = sink + c[0];
        return seconds_since(start);
      };
#endif
#if defined(EMBER_BENCH_LIBXSMM)
      // libxsmm is column-major: row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ, so its kernel
      // for (N, M, K) takes B's buffer first. The kernel is dispatched (JIT-compiled) once,
      // outside the timing, as libxsmm intends.
      libxsmm_smmfunction kernel = nullptr;
      if (M * N * K <= 64 * 64 * 64) {
        const libxsmm_blasint m = N, n = M, k = K, lda = N, ldb = K, ldc = N;
        const float alpha = 1.f, beta = 0.f;
        const int flags = LIBXSMM_GEMM_FLAG_BETA_0, prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
        kernel = libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
      }
      if (kernel) {
        runners[4] = [&, kernel](int64_t calls) {
          const auto start = Clock::now();
          for (int64_t i = 0; i < calls; ++i) kernel(b.data(), a.data(), c.data());
          sink = sink + c[0];
          return seconds_since(start);
        };
      }
#endif
      const std::vector<Stats> stats = interleave(runners, timing);
      const double flops = 2.0 * double(M) * double(N) * double(K);
      const auto gflops = [&](const Stats& s) { return s.valid() ? flops / s.median * 1e-9 : 0.0; };
      double best_library = 0;
      for (size_t i = 2; i < stats.size(); ++i)
        best_library = std::max(best_library, gflops(stats[i]));
      const auto cell = [&](const Stats& s) {
        return s.valid() ? format("%.1f", gflops(s)) : std::string("—");
      };
      table.add({std::to_string(t),
                 format("%lld×%lld×%lld", (long long)M, (long long)N, (long long)K), cell(stats[0]),
                 cell(stats[1]), cell(stats[2]), cell(stats[3]), cell(stats[4]),
                 format("%.0f%%", 100 * gflops(stats[0]) / best_library),
                 format("%.0f%%", 100 * gflops(stats[0]) / peak[ti])});
      nlohmann::json row = {
          {"threads", t}, {"M", M}, {"N", N}, {"K", K}, {"peak_gflops", peak[ti]}};
      const char* names[] = {"ember_matmul", "ember_gemm_kernel", "eigen", "openblas", "libxsmm"};
      for (size_t i = 0; i < stats.size(); ++i) {
        if (!stats[i].valid()) continue;
        row["peers"][names[i]] = stats[i].to_json();
        row["peers"][names[i]]["gflops"] = gflops(stats[i]);
      }
      rows.push_back(row);
    }
  }
  table.print();
  return rows;
}

nlohmann::json seed_gemms_section(const TimingOptions& timing) {
#if defined(EMBER_BENCH_LIBXSMM)
  // op(A)·op(B) of the step's products that ember's direct kernel takes (the head products with
  // one output column go to Eigen's matrix-vector kernel and are left out): forward x·W1ᵀ and
  // a1·W2ᵀ; backward per head dh += g·w (3x), da1 = dh·W2, dW2 = dhᵀ·a1, dW1 = dz1ᵀ·x.
  struct Product {
    bool trans_a, trans_b;
    int64_t M, N, K;
    std::vector<float> a, b, c;
  };
  std::vector<Product> products = {
      {false, true, 10, 50, 10, {}, {}, {}}, {false, true, 10, 10, 50, {}, {}, {}},
      {false, false, 10, 10, 1, {}, {}, {}}, {false, false, 10, 10, 1, {}, {}, {}},
      {false, false, 10, 10, 1, {}, {}, {}}, {false, false, 10, 50, 10, {}, {}, {}},
      {true, false, 10, 50, 10, {}, {}, {}}, {true, false, 50, 10, 10, {}, {}, {}}};
  // Multiples of 1/4, so that every product is exact and both sides must agree exactly.
  for (Product& p : products) {
    for (int64_t i = 0; i < p.M * p.K; ++i) p.a.push_back(float(i % 7) * 0.25f - 0.75f);
    for (int64_t i = 0; i < p.K * p.N; ++i) p.b.push_back(float(i % 5) * 0.5f - 1.f);
    p.c.assign(size_t(p.M * p.N), 0.f);
  }
  std::vector<float> packed(64 * 64);
  const auto dispatch = [](const Product& p) {
    const libxsmm_blasint lda = p.N, ldb = p.trans_a ? p.M : p.K, ldc = p.N;
    const float alpha = 1.f, beta = 0.f;
    const int flags = LIBXSMM_GEMM_FLAG_BETA_0 | (p.trans_a ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    const int prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    return libxsmm_smmdispatch(p.N, p.M, p.K, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
  };
  const auto run_libxsmm = [&](Product& p, libxsmm_smmfunction kernel) {
    const float* first = p.b.data();
    if (p.trans_b) {  // B is stored [N, K]; libxsmm wants [K, N] rows of N
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t k = 0; k < p.K; ++k) packed[size_t(k * p.N + n)] = p.b[size_t(n * p.K + k)];
      first = packed.data();
    }
    kernel(first, p.a.data(), p.c.data());
  };
  std::vector<libxsmm_smmfunction> cached;
  for (const Product& p : products) cached.push_back(dispatch(p));
  if (std::find(cached.begin(), cached.end(), nullptr) != cached.end()) {
    std::printf("libxsmm has no kernel for one of the seed step's products; skipped.\n\n");
    return nullptr;
  }
  const auto run_ember = [](Product& p) {
    ember::kernels::cpu::gemm(p.trans_a, p.trans_b, p.M, p.N, p.K, 1.f, p.a.data(),
                              p.trans_a ? p.M : p.K, p.b.data(), p.trans_b ? p.K : p.N, 0.f,
                              p.c.data(), p.N);
  };
  // The two must compute the same products: the layout mapping above is easy to get wrong.
  float mismatch = 0;
  for (size_t j = 0; j < products.size(); ++j) {
    Product& p = products[j];
    run_ember(p);
    const std::vector<float> expected = p.c;
    run_libxsmm(p, cached[j]);
    for (size_t i = 0; i < expected.size(); ++i)
      mismatch = std::max(mismatch, std::abs(expected[i] - p.c[i]));
  }
  const auto time_all = [&](int64_t calls, const auto& run_one) {
    const auto start = Clock::now();
    for (int64_t i = 0; i < calls; ++i)
      for (size_t j = 0; j < products.size(); ++j) run_one(j);
    return seconds_since(start);
  };
  std::vector<Runner> runners = {
      [&](int64_t calls) { return time_all(calls, [&](size_t j) { run_ember(products[j]); }); },
      [&](int64_t calls) {
        return time_all(calls, [&](size_t j) { run_libxsmm(products[j], dispatch(products[j])); });
      },
      [&](int64_t calls) {
        return time_all(calls, [&](size_t j) { run_libxsmm(products[j], cached[j]); });
      }};
  ember::set_num_threads(1);
  const std::vector<Stats> stats = interleave(runners, timing);
  std::printf("### Small products: the seed step's GEMMs, ember's direct kernel vs libxsmm\n\n");
  std::printf(
      "The %zu products of one seed MultiTaskModel training step that ember's direct kernel "
      "takes (10x50x10 and 10x10x50 with Bᵀ, three 10x10x1, 10x50x10, and 10x50x10 and "
      "50x10x10 with Aᵀ), one thread, time for all of them.\n\n",
      products.size());
  Table table({"ember gemm", "libxsmm, dispatched per call", "libxsmm, kernels looked up once",
               "libxsmm (per call) / ember", "libxsmm (once) / ember", "largest difference"});
  table.add({format_stats(stats[0]), format_stats(stats[1]), format_stats(stats[2]),
             format_ratio(stats[1].median, stats[0].median),
             format_ratio(stats[2].median, stats[0].median), format("%g", double(mismatch))});
  table.print();
  return {{"max_difference", mismatch},
          {"ember", stats[0].to_json()},
          {"libxsmm_dispatch_per_call", stats[1].to_json()},
          {"libxsmm_cached", stats[2].to_json()}};
#else
  (void)timing;
  std::printf(
      "### Small products: the seed step's GEMMs\n\nlibxsmm is missing (pkg-config "
      "found no libxsmm; Debian: libxsmm-dev); nothing to compare ember's direct kernel "
      "with.\n\n");
  return nullptr;
#endif
}

}  // namespace scoreboard
