#pragma once
// The GEMM problems the CUDA kernels are tried on, their inputs, a float64 reference and
// the comparison; shared by the device tests and the emulator tests.

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace ember::test {

/// One problem: C = alpha * op(A)·op(B) + beta * C (+ bias), row-major as gemm() takes it.
/// Each matrix lives in its own buffer, `offset` floats in (1 misaligns it for float4).
struct GemmCase {
  bool trans_a = false, trans_b = false;
  int64_t M = 1, N = 1, K = 1;
  int64_t lda = 1, ldb = 1, ldc = 1;
  int64_t offset_a = 0, offset_b = 0, offset_c = 0;
  float alpha = 1.f, beta = 0.f;
  bool bias = false;

  int64_t a_rows() const { return trans_a ? K : M; }
  int64_t a_cols() const { return trans_a ? M : K; }
  int64_t b_rows() const { return trans_b ? N : K; }
  int64_t b_cols() const { return trans_b ? K : N; }
  // Buffer sizes that end right after the last element, so a read past it is out of bounds.
  static int64_t span(int64_t offset, int64_t rows, int64_t cols, int64_t ld) {
    return rows == 0 || cols == 0 ? offset : offset + (rows - 1) * ld + cols;
  }
  int64_t a_size() const { return span(offset_a, a_rows(), a_cols(), lda); }
  int64_t b_size() const { return span(offset_b, b_rows(), b_cols(), ldb); }
  int64_t c_size() const { return span(offset_c, M, N, ldc); }
  // op(A)[m, k], op(B)[k, n] and C[m, n] as indices into their buffers.
  int64_t a_index(int64_t m, int64_t k) const {
    return offset_a + (trans_a ? k * lda + m : m * lda + k);
  }
  int64_t b_index(int64_t k, int64_t n) const {
    return offset_b + (trans_b ? n * ldb + k : k * ldb + n);
  }
  int64_t c_index(int64_t m, int64_t n) const { return offset_c + m * ldc + n; }

  std::string describe() const {
    std::ostringstream out;
    out << "M=" << M << " N=" << N << " K=" << K << " trans_a=" << trans_a << " trans_b=" << trans_b
        << " lda=" << lda << " ldb=" << ldb << " ldc=" << ldc << " offsets=" << offset_a << ","
        << offset_b << "," << offset_c << " alpha=" << alpha << " beta=" << beta
        << (bias ? " bias" : "");
    return out.str();
  }
};

/// Sizes where tiled kernels go wrong if they are going to: 1, primes, and the tile sizes
/// (8, 16, 32, 64, 128) and tile depths plus and minus one.
inline const std::vector<int64_t>& edge_sizes() {
  static const std::vector<int64_t> sizes = {1,   2,   3,   5,   7,   8,   9,   13,  15,  16,
                                             17,  31,  32,  33,  63,  64,  65,  97,  127, 128,
                                             129, 131, 191, 193, 251, 255, 257, 293, 300};
  return sizes;
}

/// `shapes` shapes with each side at most max_size, half of the sides drawn from
/// edge_sizes() and half uniformly from 1..max_size, the first few fixed. Each shape comes
/// in all four transpose combinations; strides are either multiples of 4 on an aligned
/// buffer (the kernels' 16-byte paths) or, alternately, ragged (ld % 4 != 0 where the row
/// allows it, buffer offset by one float: the scalar fallbacks). alpha and beta are never
/// 0 or 1; a third of the cases add a bias.
inline std::vector<GemmCase> gemm_cases(uint64_t seed, int shapes, int64_t max_size) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> edges;
  for (int64_t size : edge_sizes()) {
    if (size <= max_size) edges.push_back(size);
  }
  const auto draw_size = [&]() -> int64_t {
    if (rng() % 2 == 0) return edges[rng() % edges.size()];
    return 1 + int64_t(rng() % uint64_t(max_size));
  };
  const int64_t largest_edge = edges.back();
  std::vector<std::vector<int64_t>> sizes = {{1, 1, 1},
                                             {largest_edge, largest_edge - 1, 33},
                                             {129 <= max_size ? 129 : largest_edge, 7, 17}};
  while (int(sizes.size()) < shapes) sizes.push_back({draw_size(), draw_size(), draw_size()});
  sizes.resize(std::size_t(shapes));

  const float alphas[] = {0.75f, -1.25f, 1.5f};
  const float betas[] = {0.5f, -0.75f, 2.f};
  std::vector<GemmCase> cases;
  for (const std::vector<int64_t>& mnk : sizes) {
    for (int transposes = 0; transposes < 4; ++transposes) {
      GemmCase c;
      c.M = mnk[0];
      c.N = mnk[1];
      c.K = mnk[2];
      c.trans_a = transposes & 1;
      c.trans_b = transposes & 2;
      const bool ragged = cases.size() % 2 == 1;
      const auto stride = [&](int64_t cols) {
        if (!ragged) return (cols + 3) / 4 * 4 + 4 * int64_t(rng() % 2);
        int64_t ld = cols + int64_t(rng() % 4);
        if (ld % 4 == 0) ++ld;
        return ld;
      };
      c.lda = stride(c.a_cols());
      c.ldb = stride(c.b_cols());
      c.ldc = stride(c.N);
      c.offset_a = c.offset_b = c.offset_c = ragged ? 1 : 0;
      c.alpha = alphas[rng() % 3];
      c.beta = betas[rng() % 3];
      c.bias = rng() % 3 == 0;
      cases.push_back(c);
    }
  }
  return cases;
}

/// Host copies of a case's buffers. Elements outside the matrices (offsets, the gaps that
/// ld leaves) are NaN in A and B, so that a kernel reading one spoils its result, and a
/// sentinel in C, which must survive.
struct GemmInputs {
  std::vector<float> a, b, c, bias;
};

inline constexpr float kGapSentinel = 12345.f;

enum class Values {
  uniform,   // uniform in [-1, 1); C too
  integers,  // integers in [-4, 4] (C and bias in [-8, 8]): every sum is exact in float32
};

inline GemmInputs make_inputs(const GemmCase& c, Values values, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  const auto draw = [&](int range) {
    if (values == Values::uniform) return uniform(rng);
    return float(int64_t(rng() % uint64_t(2 * range + 1)) - range);
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  GemmInputs in;
  in.a.assign(std::size_t(c.a_size()), nan);
  in.b.assign(std::size_t(c.b_size()), nan);
  in.c.assign(std::size_t(c.c_size()), kGapSentinel);
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t k = 0; k < c.K; ++k) in.a[std::size_t(c.a_index(m, k))] = draw(4);
  }
  for (int64_t k = 0; k < c.K; ++k) {
    for (int64_t n = 0; n < c.N; ++n) in.b[std::size_t(c.b_index(k, n))] = draw(4);
  }
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t n = 0; n < c.N; ++n) in.c[std::size_t(c.c_index(m, n))] = draw(8);
  }
  if (c.bias) {
    in.bias.resize(std::size_t(c.N));
    for (float& b : in.bias) b = draw(8);
  }
  return in;
}

/// The float64 result and, per element, the scale its rounding error is measured against:
/// |alpha| * (|op(A)|·|op(B)|)[m, n] + |beta * C[m, n]| + |bias[n]|.
struct GemmReference {
  std::vector<double> value, scale;  // [M, N]
};

inline GemmReference reference(const GemmCase& c, const GemmInputs& in) {
  GemmReference ref;
  ref.value.resize(std::size_t(c.M * c.N));
  ref.scale.resize(std::size_t(c.M * c.N));
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t n = 0; n < c.N; ++n) {
      double sum = 0, magnitude = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double product =
            double(in.a[std::size_t(c.a_index(m, k))]) * double(in.b[std::size_t(c.b_index(k, n))]);
        sum += product;
        magnitude += std::fabs(product);
      }
      double value = double(c.alpha) * sum, scale = std::fabs(double(c.alpha)) * magnitude;
      if (c.beta != 0.f) {
        const double old = double(c.beta) * double(in.c[std::size_t(c.c_index(m, n))]);
        value += old;
        scale += std::fabs(old);
      }
      if (c.bias) {
        value += double(in.bias[std::size_t(n)]);
        scale += std::fabs(double(in.bias[std::size_t(n)]));
      }
      ref.value[std::size_t(m * c.N + n)] = value;
      ref.scale[std::size_t(m * c.N + n)] = scale;
    }
  }
  return ref;
}

/// The allowed error, relative to GemmReference::scale. float32 (u = 2^-24): a sum of K
/// products accumulates at most about K roundings, the epilogue 3 more: 2 (K + 3) u, with
/// a factor 2 of margin. TF32 rounds each input once to 10 mantissa bits (2^-11 relative
/// when rounded to nearest, 2^-10 if an implementation truncates), so each product is off
/// by at most 2 * 2^-10, whatever K; the float32 accumulation adds the above. This is
/// tighter than c·K·2^-11, which for K = 300 would let a whole missing k-term through.
inline double tolerance(int64_t K, bool tf32) {
  const double u = std::ldexp(1.0, -24);
  const double accumulation = 2.0 * double(K + 3) * u;
  return tf32 ? accumulation + 2.0 * 2.0 * std::ldexp(1.0, -10) : accumulation;
}

/// "" when every element of C is within `relative_tolerance` * scale of the reference (0:
/// exact) and every sentinel outside the matrix is intact; otherwise what went wrong first
/// and how often.
inline std::string compare(const GemmCase& c, const GemmReference& ref,
                           const std::vector<float>& c_after, double relative_tolerance) {
  if (c_after.size() != std::size_t(c.c_size())) return "C has the wrong size";
  int64_t bad = 0;
  std::ostringstream first;
  std::vector<bool> inside(c_after.size(), false);
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t n = 0; n < c.N; ++n) {
      const std::size_t at = std::size_t(c.c_index(m, n));
      inside[at] = true;
      const double expected = ref.value[std::size_t(m * c.N + n)];
      const double allowed = relative_tolerance * ref.scale[std::size_t(m * c.N + n)];
      const double error = std::fabs(double(c_after[at]) - expected);
      if (!(error <= allowed)) {  // NaN fails too
        if (bad++ == 0) {
          first << "C[" << m << ", " << n << "] = " << c_after[at] << ", expected " << expected
                << " (error " << error << ", allowed " << allowed << ")";
        }
      }
    }
  }
  for (std::size_t at = 0; at < c_after.size(); ++at) {
    if (!inside[at] && c_after[at] != kGapSentinel) {
      if (bad++ == 0) first << "C's buffer element " << at << " outside the matrix was written";
    }
  }
  if (bad == 0) return "";
  return std::to_string(bad) + " wrong element(s); first: " + first.str();
}

}  // namespace ember::test
