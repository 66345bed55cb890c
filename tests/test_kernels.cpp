// The CPU GEMM kernel on raw buffers against a double-precision reference. gemm.cpp sends small
// products to its own kernel and the rest to Eigen, so the shapes sit on both sides of that line:
// 1x1x1 and vectors (vector_product: 10x1x10, 1x10x10, 16x1x16 and 1x100x2 at every level; with
// AVX-512 also 64x1x50, 1x50x64 and 17x1x16, and 1x100x3 and 300x1x17 where each sum runs along a
// row, with Bᵀ or an untransposed A; 37x1x300 and 1x70x300, longer than its limit, go to Eigen, as
// every vector product above 256 multiply-adds does at the other levels), 3x5x7 to 50x10x10 and
// 9x17x33 (direct kernel, with partial tiles; with AVX-512 11x2x5, 12x31x9 and 6x15x3 are one tile
// of their height with a partial last strip, 13x18x6 tiles of 8, 4 and 1), 4x40x40 (direct unless B
// is transposed), 2x3x300 (K too deep for the direct kernel) and 70x65x90 (Eigen); 130x130x130 goes
// to OpenBLAS in a build with it (EMBER_BLAS); 300x10x64 and 257x16x33, C one strip wide, to the
// direct kernel with AVX2 and to Eigen otherwise. The library holds one copy of gemm per
// instruction-set level and runs one of them; the last test runs every copy this machine can run.
// Then the sum kernel against its definition, and an elementwise loop run at every level
// (run_at_level) against the same loop compiled plainly.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <ember/kernels/cpu/elementwise.h>
#include <ember/kernels/cpu/gemm.h>

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kSentinel = 7.f;  // C's row padding, which gemm must leave alone

struct Dims {
  int64_t M, N, K;
};
const Dims kShapes[] = {{1, 1, 1},    {3, 5, 7},       {10, 50, 10},  {10, 10, 50},  {50, 10, 10},
                        {10, 1, 10},  {1, 10, 10},     {9, 17, 33},   {4, 40, 40},   {2, 3, 300},
                        {70, 65, 90}, {130, 130, 130}, {300, 10, 64}, {257, 16, 33}, {64, 50, 1},
                        {7, 33, 1},   {40, 7, 20},     {16, 1, 16},   {1, 17, 16},   {11, 2, 5},
                        {12, 31, 9},  {13, 18, 6},     {6, 15, 3},    {64, 1, 50},   {1, 50, 64},
                        {37, 1, 300}, {1, 70, 300},    {300, 1, 17},  {1, 100, 3},   {17, 1, 16},
                        {1, 100, 2}};

struct Problem {
  Dims shape;
  bool trans_a, trans_b;
  float alpha, beta;
  int64_t pad;       // extra elements after every stored row of A, B and C
  bool row = false;  // beta times a row [N] on every row of C, not times C (gemm_row)
};

// A [rows, cols] matrix stored row-major with row stride cols + pad, the padding set to `fill`.
struct Matrix {
  int64_t rows, cols, stride;
  std::vector<float> data;
  Matrix(int64_t rows, int64_t cols, int64_t pad, float fill)
      : rows(rows), cols(cols), stride(cols + pad), data(rows * (cols + pad), fill) {}
  float& at(int64_t r, int64_t c) { return data[r * stride + c]; }
};

// Entries are multiples of 1/4 in [-2, 2], so every product and partial sum is exact in float:
// the result cannot depend on the summation order, and even elements that cancel to near zero
// can be held to the tolerance.
void fill_quarters(Matrix& m, std::mt19937& rng) {
  std::uniform_int_distribution<int> quarters(-8, 8);
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t c = 0; c < m.cols; ++c) m.at(r, c) = float(quarters(rng)) / 4.f;
  }
}

// Runs gemm on one problem and counts the elements of C that miss the reference, plus any
// change to C's padding. A, B and the row carry NaN padding, and C holds NaN when beta == 0 or
// the row stands in for it, so a kernel that reads what it should not produces NaN, which
// fails every comparison.
int64_t count_errors(const Problem& p, ember::kernels::cpu::GemmKernel gemm) {
  const auto [M, N, K] = p.shape;
  std::mt19937 rng(uint32_t(M * 10007 + N * 101 + K));
  Matrix a(p.trans_a ? K : M, p.trans_a ? M : K, p.pad, kNaN);
  Matrix b(p.trans_b ? N : K, p.trans_b ? K : N, p.pad, kNaN);
  Matrix c(M, N, p.pad, kSentinel);
  Matrix row(1, N, p.pad, kNaN);
  fill_quarters(a, rng);
  fill_quarters(b, rng);
  if (p.beta == 0.f || p.row) {
    for (int64_t i = 0; i < M; ++i) std::fill_n(&c.at(i, 0), N, kNaN);
  } else {
    fill_quarters(c, rng);
  }
  if (p.row) fill_quarters(row, rng);
  std::vector<double> expected(M * N);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) {
        sum += double(p.trans_a ? a.at(k, i) : a.at(i, k)) *
               double(p.trans_b ? b.at(j, k) : b.at(k, j));
      }
      const double start = p.row ? row.at(0, j) : c.at(i, j);
      expected[i * N + j] = p.alpha * sum + (p.beta == 0.f ? 0. : p.beta * start);
    }
  }
  gemm(p.trans_a, p.trans_b, M, N, K, p.alpha, a.data.data(), a.stride, b.data.data(), b.stride,
       p.beta, p.row ? row.data.data() : nullptr, c.data.data(), c.stride);
  int64_t errors = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      // Tolerance: relative 1e-5 where |expected| >= 1e-3, absolute 1e-8 below that.
      const double want = expected[i * N + j];
      if (!(std::abs(double(c.at(i, j)) - want) <= 1e-5 * std::max(std::abs(want), 1e-3))) {
        ++errors;
      }
    }
    for (int64_t j = N; j < c.stride; ++j) errors += c.at(i, j) != kSentinel;
  }
  return errors;
}

// Every shape in kShapes, with each of the four transpose combinations, through `gemm` (by
// default the library's gemm_row, which gemm calls with no row).
void check_all(float alpha, float beta, int64_t pad, bool row = false,
               ember::kernels::cpu::GemmKernel gemm = ember::kernels::cpu::gemm_row) {
  for (const Dims& shape : kShapes) {
    for (const bool trans_a : {false, true}) {
      for (const bool trans_b : {false, true}) {
        INFO("M=" << shape.M << " N=" << shape.N << " K=" << shape.K << " trans_a=" << trans_a
                  << " trans_b=" << trans_b << " alpha=" << alpha << " beta=" << beta
                  << " pad=" << pad << " row=" << row);
        CHECK(count_errors({shape, trans_a, trans_b, alpha, beta, pad, row}, gemm) == 0);
      }
    }
  }
}

}  // namespace

TEST_CASE("gemm matches a double-precision reference for every transpose combination",
          "[kernels]") {
  check_all(1.f, 0.f, 0);
}

TEST_CASE("gemm uses only the first cols elements of each row when row strides are padded",
          "[kernels]") {
  check_all(1.f, 0.f, 3);
  check_all(0.5f, -2.f, 5);
}

TEST_CASE("gemm scales the product by alpha and adds beta times C", "[kernels]") {
  for (const float beta : {0.f, 1.f, -2.f}) check_all(0.5f, beta, 0);
}

TEST_CASE("gemm_row adds beta times its row to every row of C without reading C", "[kernels]") {
  for (const float beta : {1.f, -0.5f}) {
    check_all(1.f, beta, 0, true);
    check_all(0.5f, beta, 3, true);
  }
}

TEST_CASE("gemm with beta = 0 overwrites NaN garbage in C without reading it", "[kernels]") {
  // count_errors fills C with NaN whenever beta == 0; a result that mixed in 0 * NaN is NaN.
  check_all(1.f, 0.f, 2);
}

TEST_CASE("gemm with K = 0 sets C to beta times C (or the row) and with M or N = 0 writes nothing",
          "[kernels]") {
  float c[4] = {1.f, 2.f, 3.f, 4.f};
  ember::kernels::cpu::gemm(false, false, 2, 2, 0, 1.f, nullptr, 1, nullptr, 2, 3.f, c, 2);
  CHECK(std::vector<float>(c, c + 4) == std::vector<float>{3.f, 6.f, 9.f, 12.f});
  const float row[2] = {1.f, -2.f};
  float rows[4] = {kNaN, kNaN, kNaN, kNaN};
  ember::kernels::cpu::gemm_row(false, false, 2, 2, 0, 1.f, nullptr, 1, nullptr, 2, 0.5f, row, rows,
                                2);
  CHECK(std::vector<float>(rows, rows + 4) == std::vector<float>{0.5f, -1.f, 0.5f, -1.f});
  float garbage[4] = {kNaN, kNaN, kNaN, kNaN};
  ember::kernels::cpu::gemm(true, true, 2, 2, 0, 1.f, nullptr, 2, nullptr, 1, 0.f, garbage, 2);
  CHECK(std::vector<float>(garbage, garbage + 4) == std::vector<float>{0.f, 0.f, 0.f, 0.f});
  ember::kernels::cpu::gemm(false, false, 0, 3, 2, 1.f, nullptr, 2, nullptr, 3, 0.f, c, 3);
  ember::kernels::cpu::gemm(false, false, 3, 0, 2, 1.f, nullptr, 2, nullptr, 1, 0.f, c, 1);
  CHECK(std::vector<float>(c, c + 4) == std::vector<float>{3.f, 6.f, 9.f, 12.f});
}

TEST_CASE("gemm built for each CPU level this machine runs matches a double-precision reference",
          "[kernels]") {
  using ember::kernels::cpu::CpuLevel;
  int levels_run = 0;
  for (const CpuLevel level :
       {CpuLevel::baseline, CpuLevel::avx2, CpuLevel::avx512, CpuLevel::native}) {
    const ember::kernels::cpu::GemmKernel kernel = ember::kernels::cpu::gemm_kernel(level);
    CHECK((kernel != nullptr) == ember::kernels::cpu::cpu_level_available(level));
    if (kernel == nullptr) continue;
    INFO("CPU level " << ember::kernels::cpu::cpu_level_name(level));
    check_all(1.f, 0.f, 0, false, kernel);
    check_all(0.5f, -2.f, 5, false, kernel);
    check_all(1.f, 1.f, 2, true, kernel);
    check_all(0.5f, -0.5f, 1, true, kernel);
    ++levels_run;
  }
  CHECK(ember::kernels::cpu::cpu_level_available(ember::kernels::cpu::cpu_level()));
  // Every build has baseline or native, and any CPU it was built for runs that.
  CHECK(levels_run >= 1);
}

namespace {

// out[j] = Σ_i x[i] over the input elements i that map to output element j, in double: the
// definition of sum_reduce, for a contiguous x of `shape` and the output strides it takes.
std::vector<double> sum_by_definition(const std::vector<float>& x,
                                      const std::vector<int64_t>& shape,
                                      const std::vector<int64_t>& out_strides, int64_t out_numel) {
  std::vector<double> out(static_cast<size_t>(out_numel), 0.0);
  std::vector<int64_t> index(shape.size(), 0);
  for (float value : x) {
    int64_t target = 0;
    for (size_t d = 0; d < shape.size(); ++d) target += index[d] * out_strides[d];
    out[static_cast<size_t>(target)] += value;
    for (size_t d = shape.size(); d-- > 0;) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("sum_reduce matches its definition for column sums, size-1 dims and merged walks",
          "[kernels]") {
  struct Case {
    std::vector<int64_t> shape, out_strides;
    int64_t out_numel;
  };
  const std::vector<Case> cases = {
      {{37, 13}, {0, 1}, 13},            // column sums: eight columns, then five one by one
      {{3, 16}, {0, 1}, 16},             // column sums, whole blocks only
      {{37, 13}, {1, 0}, 37},            // row sums: four chains and a remainder
      {{64, 8, 1}, {0, 1, 0}, 8},        // a size-1 dim dropped: column sums of [64, 8]
      {{4, 5, 6}, {0, 1, 0}, 5},         // the middle dim kept: a strided walk
      {{4, 5, 6}, {6, 0, 1}, 24},        // the middle dim reduced
      {{2, 3, 4, 5}, {0, 0, 5, 1}, 20},  // two reduced dims merged, then column sums
      {{5, 1, 7}, {0, 0, 0}, 1},         // everything
      {{1, 1}, {0, 0}, 1},               // one element
  };
  std::mt19937 gen(3);
  std::normal_distribution<float> normal;
  for (const Case& c : cases) {
    int64_t numel = 1;
    for (int64_t size : c.shape) numel *= size;
    std::vector<float> x(static_cast<size_t>(numel));
    for (float& v : x) v = normal(gen);
    std::vector<float> out(static_cast<size_t>(c.out_numel), -1.f);
    ember::kernels::cpu::sum_reduce(x.data(), c.shape, c.out_strides, 0.5, out.data(), c.out_numel);
    const std::vector<double> expected = sum_by_definition(x, c.shape, c.out_strides, c.out_numel);
    for (size_t j = 0; j < out.size(); ++j) {
      INFO("shape case with " << numel << " elements, output " << j);
      // Summed in double and rounded once: within a float rounding of the exact value.
      CHECK(out[j] == Approx(0.5 * expected[j]).epsilon(1e-6).margin(1e-6));
    }
  }
}

TEST_CASE("a loop run at each CPU level this machine runs gives the baseline's bits", "[kernels]") {
  using ember::kernels::cpu::CpuLevel;
  // Lengths around every vector width (4, 8 and 16 floats), so each copy's main loop and its
  // tail both run. Inputs include zeros, negatives and a NaN.
  std::mt19937 gen(5);
  std::normal_distribution<float> normal;
  for (const int64_t n : {0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 64, 67, 1000}) {
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      a[size_t(i)] = i % 5 == 0 ? 0.f : normal(gen);
      b[size_t(i)] = normal(gen);
    }
    if (n > 6) a[6] = std::numeric_limits<float>::quiet_NaN();
    // relu's backward and an Adam-like denominator: compares, a square root and a division,
    // which round the same at every vector width.
    const auto loop = [](const float* g, const float* y, float* result, int64_t count, float eps) {
      for (int64_t i = 0; i < count; ++i) {
        const float gated = y[i] > 0.f ? g[i] : 0.f;
        result[i] = gated / (std::sqrt(std::fabs(y[i])) + eps);
      }
    };
    std::vector<float> expected(static_cast<size_t>(n) + 1, -7.f);
    loop(a.data(), b.data(), expected.data(), n, 1e-3f);
    int levels_run = 0;
    for (const CpuLevel level :
         {CpuLevel::baseline, CpuLevel::avx2, CpuLevel::avx512, CpuLevel::native}) {
      if (!ember::kernels::cpu::cpu_level_available(level)) continue;
      INFO("CPU level " << ember::kernels::cpu::cpu_level_name(level) << ", n = " << n);
      std::vector<float> out(static_cast<size_t>(n) + 1, -7.f);  // one guard element past n
      ember::kernels::cpu::run_at_level(level, loop, a.data(), b.data(), out.data(), n, 1e-3f);
      for (size_t i = 0; i < out.size(); ++i) {
        INFO("element " << i);
        CHECK((std::isnan(out[i]) ? std::isnan(expected[i]) : out[i] == expected[i]));
      }
      ++levels_run;
    }
    // Every build has baseline or native, and any CPU it was built for runs that.
    CHECK(levels_run >= 1);
  }
}
