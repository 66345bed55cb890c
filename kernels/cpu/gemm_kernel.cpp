// The CPU GEMM, compiled once per CpuLevel (cmake/cpu_levels.cmake): EMBER_CPU_LEVEL names
// the level, and this file's code lives in the namespace of that name, with the -march flags of
// that level. gemm.cpp picks one at run time.
//
// Every copy must keep its code to itself. An inline function or template instantiated here
// under the same name as in another object (Eigen's templates, say) would be merged by the
// linker into one copy, maybe the AVX-512 one, which other levels would then call. So Eigen's
// namespace is renamed per level, and everything else is in the level's namespace or inlined;
// the ctests `cpu_level_*_shares_no_code` check the objects for shared symbols.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include <ember/kernels/cpu/gemm.h>

#if defined(__FMA__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#define EMBER_CONCAT_(a, b) a##b
#define EMBER_CONCAT(a, b) EMBER_CONCAT_(a, b)
#define Eigen EMBER_CONCAT(eigen_, EMBER_CPU_LEVEL)
#include <Eigen/Core>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ember::kernels::cpu::EMBER_CPU_LEVEL {

#include "eigen_product.h"

namespace {

// The direct kernel below computes C in strips of 16 columns, a tile of rows at a time, with the
// tile's sums in vector registers for the whole k loop.
constexpr int kStripWidth = 16;
// The tile's vectors are written out with GCC's vector extensions (clang has them too) rather
// than left to the auto-vectoriser: for x86-64-v3 under GCC's generic tuning, GCC 12 vectorised
// a 2-row tile across k with 128-bit vectors, gathering A element by element, where
// -march=native (Zen) vectorised across the columns with 256-bit ones, and the portable seed step
// ran ~15% slower. The width is the widest this level's flags allow, so every level gets the same
// code shape: per k, one vector load of op(B)'s row, one broadcast op(A) value per row, and
// one multiply-add per vector of sums.
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#elif defined(__AVX__)
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;  // SSE2, the baseline (and NEON elsewhere)
#endif
using Vector = float __attribute__((vector_size(kVectorBytes)));
constexpr int kLanes = kVectorBytes / int(sizeof(float));
constexpr int kStripVectors = kStripWidth / kLanes;  // per tile row
// Eight vectors of sums per tile: enough independent adds in flight to keep both vector adders
// busy, and with op(B)'s row and a broadcast A value still within 16 registers (AVX2, SSE2), so
// none is spilled to the stack. 8 rows of AVX2 sums would take all 16 registers by themselves:
// GCC 12 spilled four of them, a load and a store per k each.
constexpr int kTileRows = 8 / kStripVectors;  // 8 with AVX-512, 4 with AVX2, 2 with SSE2
// A C of at most kMaxTileRows rows is one tile of exactly its height; with AVX-512's 32
// registers that is up to 12 rows. A 10-row C as tiles of 8 and 2 rows spent the 2-row tile
// waiting on its two chains of sums (each multiply-add waits for the last), and called the
// tile twice: 10x10x50 NT 333 -> 250 ns, 10x10x10 NN 135 -> 89 ns, 10x50x10 NT 280 -> 257 ns
// (after the edge stores below; Zen 4, minima of nine interleaved runs). With AVX2, 3x16x16 NN
// 76 -> 56 ns as one 3-row tile rather than 2 + 1. Tiles as even as possible for larger M (50
// as five of 10) were slower than tiles of 8: 64x50x10 NT 0.98 vs 1.09 us.
#if defined(__AVX512F__)
constexpr int kMaxTileRows = 12;
#else
constexpr int kMaxTileRows = kTileRows;
#endif

// Unaligned loads and stores (B's and C's rows have any alignment); the compilers turn each
// memcpy into one vector move.
Vector load(const float* p) {
  Vector v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store(float* p, Vector v) { std::memcpy(p, &v, sizeof v); }

// AVX-512 reads an untransposed B's last strip, narrower than 16 columns, in place, the lanes
// past its edge masked off; the other levels pack it (pack_strip). Packed float by float and
// then read a row at a time, the row's load waited for the stores before it (they cannot be
// forwarded to it): 10x10x10 NN 100 -> 55 ns, 10x50x10 NN 186 -> 167 ns, 12x40x12 NN 213 -> 171
// ns in place (Zen 4, minima of nine interleaved runs).
#if defined(__AVX512F__)
constexpr bool kMaskedLoads = true;
#else
constexpr bool kMaskedLoads = false;
#endif
static_assert(!kMaskedLoads || kStripVectors == 1, "a masked strip is one vector wide");

// The first n lanes (0 < n <= kLanes) loaded from p, the others zero, and stored to p, the
// floats past them left alone: the edge of a strip narrower than 16 columns, read and written
// in place. AVX-512 masks its loads and stores; elsewhere lane by lane (AVX's masked stores,
// vmaskmovps, made 10x2x10 NN 89 -> 107 ns on Zen 4).
Vector load_first(const float* p, int64_t n) {
#if defined(__AVX512F__)
  return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), p);
#else
  Vector v{};
  for (int64_t j = 0; j < n; ++j) v[j] = p[j];
  return v;
#endif
}
void store_first(float* p, Vector v, int64_t n) {
#if defined(__AVX512F__)
  _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), v);
#else
  for (int64_t j = 0; j < n; ++j) p[j] = v[j];
#endif
}

// x in every lane (x - 0 is x, -0 included, where x + 0 would make -0 into +0).
Vector broadcast(float x) { return x - Vector{}; }

// acc + a * b, rounded once where this level has fused multiply-add (as Eigen's kernels, which
// take the larger products, use it explicitly; the library is built with -ffp-contract=off), in
// two roundings elsewhere. FMA does twice the work per instruction of a multiply and an add.
Vector multiply_add(Vector acc, Vector a, Vector b) {
#if defined(__AVX512F__)
  return _mm512_fmadd_ps(a, b, acc);
#elif defined(__FMA__) && defined(__AVX__)
  return _mm256_fmadd_ps(a, b, acc);
#else
  return acc + a * b;
#endif
}

// It reads op(B) one [K, 16] column strip at a time; a strip that B does not already store that
// way (Bᵀ, or the last strip when N is not a multiple of 16) is packed into a 16 KiB stack
// buffer of this many rows.
constexpr int64_t kDirectMaxDepth = 256;
// Eigen's GEMM sets up cache blocking and packs both operands into heap buffers before it
// multiplies, which dominates small products. Direct kernel vs Eigen on this 2-core AMD EPYC
// (GCC 12, -O3 -march=native, AVX-512), NN and NT:
//   10x50x10  0.27  0.41 vs 0.38  0.46 us     16^3  0.13  0.19 vs 0.27  0.30 us
//   10x10x50  0.39  0.39 vs 0.49  0.52 us     32^3  0.78  1.05 vs 1.23  1.32 us
//   50x10x10  0.36  0.36 vs 0.68  0.71 us     64^3  5.5   6.5  vs 6.9   7.1  us
// Cubes keep a 10-25% lead up to 96^3 here, but an AVX2-only build of the kernel is already
// behind Eigen at 32^3 (1.48 vs 1.37 us NN), so larger products go to Eigen.
constexpr double kDirectMaxWork = 32 * 32 * 32;
// Packing Bᵀ costs about a cycle per element, where Eigen transposes with SIMD shuffles, and
// only pays off while Bᵀ is small: 10x64x64 NT takes 2.1 vs 1.5 us, 24x64x64 NT 3.1 vs 2.9 us.
constexpr int64_t kDirectMaxTransposedB = 32 * 32;

// Multiply-adds from which Eigen may split a product across OpenMP threads (see gemm()).
constexpr double kParallelWork = 1 << 21;
// A C of one strip (N ≤ 16) below that size goes to the direct kernel at any M, with 256-bit
// vectors: it packs at most one strip of B and keeps every sum in registers, where Eigen's
// blocking for wide panels does not pay off. Direct vs Eigen, AVX2, this machine (Zen 3; the
// median of three runs): 400x10x64 TN 10.3 vs 17.0 us, NN 10.6 vs 14.7, NT 10.4 vs 14.8;
// 1024x10x64 TN 43 vs 82; 256x16x256 TN 28 vs 46; 200x16x32 NN 2.6 vs 4.8. With AVX-512 and
// FMA, on a 2-core Intel Xeon (Sapphire Rapids), NN and NT: 400x10x10 2.8 2.5 vs 3.8 4.3 us,
// 400x16x64 5.9 6.3 vs 10.4 10.8, 1024x10x64 19.8 19.5 vs 26.1 27.0; level with Eigen at
// 1024x10x256. With SSE2 the two were within ±20% either way, so the baseline level keeps the
// limits above.
constexpr bool kDirectNarrowProducts = kVectorBytes >= 32;
// With AVX-512 the direct kernel leads Eigen at every size below kParallelWork (one thread),
// any shape and transposes, since it packs Bᵀ with 16x16 transposes (transpose_16x16). Eigen /
// direct, µs, Zen 4, the better of two runs: 40³ NN 1.75 / 1.44, 64³ NN 5.83 / 4.61, NT 5.99 /
// 4.95, 96³ NN 17.8 / 15.4, 120³ NN 34.2 / 31.9, 64x400x10 NT 7.06 / 5.76, 12x300x30 NT 3.66 /
// 2.88, 200x100x50 NN 21.8 / 20.1, 100x64x200 TN 26.8 / 22.4; none slower. Not measured on an
// Intel AVX-512 machine, whose two full-width FMA units Zen 4 does not have.
constexpr bool kDirectBelowParallelWork = kVectorBytes == 64;

// Which products the direct kernel takes. One with a vector operand (M == 1 or N == 1) goes to
// vector_product below when tiny, else to Eigen's matrix-vector kernel, which sums with
// vectorised dot products; the direct kernel vectorises only across the 16 columns of a strip,
// so for N == 1 it wastes 15 of 16 lanes (10x1x50: 250 vs 90 ns).
bool use_direct_gemm(bool trans_b, int64_t M, int64_t N, int64_t K) {
  if (M == 1 || N == 1 || K > kDirectMaxDepth) return false;
  const double work = double(M) * double(N) * double(K);
  if (work < kParallelWork &&
      (kDirectBelowParallelWork || (kDirectNarrowProducts && N <= kStripWidth)))
    return true;
  if (work > kDirectMaxWork) return false;
  return !trans_b || N * K <= kDirectMaxTransposedB;
}

// A narrow C (N < 16) of Aᵀ·op(B) with at least 16 rows, as a weight gradient gᵀ·x of a
// layer with few inputs: the direct kernel computes Cᵀ = op(B)ᵀ·A instead, whose rows are A's
// rows, read in place, and whose strips fill every lane, where C's one strip would leave 16 - N
// idle. On the Intel Xeon above, 400x10x64 TN 11.6 -> 6.4 us with AVX-512 and 10.5 -> 8.1 with
// AVX2, 64x10x64 1.9 -> 0.95 and 1.8 -> 1.2, 50x10x10 0.40 -> 0.34 and 0.48 -> 0.46 (minima of
// nine runs), never slower for M from 16 to 400; with an untransposed A, which would need
// packing, it was slower.
bool use_transposed_direct_gemm(bool trans_a, int64_t M, int64_t N, int64_t K) {
  if (!trans_a || N == 1 || N >= kStripWidth || M < kStripWidth || K > kDirectMaxDepth)
    return false;
  // Where B's narrow strip is read in place with masked loads (AVX-512), C's own route costs
  // about M·K vector multiply-adds, this one M·N·K/16 but C's M·N elements written one by one,
  // each about two multiply-adds' time: it pays only if K·(16 - N) > 32·N. Timed both ways on
  // Zen 4 (ns): 50x10x10 TN 382 here vs 218 C's own, 400x10x10 2422 vs 1614, 64x15x64 1879 vs
  // 1216, but 64x10x64 1021 vs 1233, 400x10x64 6296 vs 7608, 32x4x32 175 vs 341.
  if (kMaskedLoads && K * (kStripWidth - N) <= 2 * kStripWidth * N) return false;
  return double(M) * double(N) * double(K) < kParallelWork;
}

// One 16-column strip of the product: C[:, j:j+width] = alpha * op(A) · op(B)[:, j:j+width]
// + beta * C[:, j:j+width], or with kRow (below) + beta * row[j:j+width] on every row.
// op(A)[i, k] = a[i * a_row_step + k * a_k_step], which reads A (steps lda, 1) and Aᵀ (steps
// 1, lda) alike.
struct Strip {
  const float* a;
  int64_t a_row_step, a_k_step, K;
  const float* b;  // op(B)[k, j + col] = b[k * b_stride + col] for col < 16, zero past width
  int64_t b_stride;
  float alpha, beta;
  float* c;  // C[i, j + col] = c[i * c_row_step + col * c_col_step] for col < width
  int64_t c_row_step, c_col_step, width;
  const float* row;  // row[col] for col < width, read with kRow (then c_col_step is 1)
};

// Rows i..i+Rows-1 of one strip. Each C element is a plain float sum over k in increasing
// order, so the result does not depend on the tiling (or on the thread count).
// Kept out of line: inlined into its caller, GCC 12 left the sums in memory (a store and a
// reload per k rather than a register add), which made the kernel about 3x slower.
// kEdge: op(B)'s rows are read with only the strip's `width` lanes (kMaskedLoads). kRow: beta
// times s.row is added to every row rather than beta times C (a bias; C is only written). A
// template parameter rather than a test, so that the tiles without it compile as they did
// before it: reading C's starting values through a pointer and stride of their own, whichever
// way they were written, slowed those (NN 10x50x10 161.6 -> 169.0 ns, TN 400x10x64 +10%).
template <int Rows, bool kEdge, bool kRow>
[[gnu::noinline]] void multiply_tile(const Strip& s, int64_t i) {
  const float* a = s.a + i * s.a_row_step;
  // acc[r] holds C[i + r, j:j+16] before alpha and beta. Zeroed register by register: with
  // `= {}`, GCC 12's generic tuning (the portable build) zeroed a copy on the stack with
  // `rep stosq` on every call, which made the seed step ~4% slower than -march=native.
  Vector acc[Rows][kStripVectors];
#pragma GCC unroll 16
  for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kStripVectors; ++v) acc[r][v] = Vector{};
  for (int64_t k = 0; k < s.K; ++k) {
    const float* b_row = s.b + k * s.b_stride;  // op(B)[k, j:j+16]
    // acc[r, :] += op(A)[i + r, k] * op(B)[k, j:j+16]: the scalar is broadcast to every lane.
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
      const Vector a_rk = broadcast(a[r * s.a_row_step + k * s.a_k_step]);
#pragma GCC unroll 4
      for (int v = 0; v < kStripVectors; ++v) {
        const Vector b = kEdge ? load_first(b_row, s.width) : load(b_row + v * kLanes);
        acc[r][v] = multiply_add(acc[r][v], a_rk, b);
      }
    }
  }
  // Every loop below is unrolled so that acc keeps to registers: with the row loop left rolled,
  // GCC 12 kept acc on the stack for the whole tile (zeroed there, spilled after the k loop),
  // which cost most where the k loop is short: 10x50x10 NN took 0.44 us, now 0.35 (AVX2, Zen 3,
  // the minimum of four interleaved runs). The pragmas allow 16 rows, past the 12-row tiles
  // (with 8, a 10-row tile was left partly rolled: 10x50x10 NN 317 ns against 192).
  // In locals: a store through a float* could change s.alpha or s.beta as far as the compiler
  // knows, so it would reload both (and test beta) for every element written. Element by
  // element that took 12 instructions per C element: 10% of the instructions of a batched K = 8
  // ensemble step, whose weight gradient [400, 10] is written transposed.
  const float alpha = s.alpha, beta = s.beta;
  if (s.width == kStripWidth && s.c_col_step == 1) {
    // A full strip is written a vector at a time; with K small (a product of depth 2 to 10)
    // element-by-element stores took as long as the k loop. Both ways compute the same floats.
    // (The edge's loop below would write a full strip too, but its test per vector made
    // AVX2 products 5-26% slower: 10x10x10 NN 168 -> 212 ns.)
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
      float* c_row = s.c + (i + r) * s.c_row_step;
#pragma GCC unroll 4
      for (int v = 0; v < kStripVectors; ++v) {
        const Vector sum = alpha * acc[r][v];
        float* c = c_row + v * kLanes;
        store(c, beta == 0.f ? sum : sum + beta * load(kRow ? s.row + v * kLanes : c));
      }
    }
    return;
  }
  if (kRow || s.c_col_step == 1) {
    // The strip's edge: its vectors up to `width` columns, the last one in part. Through a
    // copy of the sums on the stack, read back float by float, as a transposed C still is
    // below, a 2-column edge took as long as a full strip (AVX-512: the 64-byte stores do not
    // forward to 4-byte loads): 10x2x10 NN 95 -> 73 ns, 10x50x10 NN 229 -> 201 ns, Zen 4.
    // Every row of C is read (beta != 0) before any is written: read row by row, each read
    // waited on the masked store of the row before, whose 64 bytes reach into it when rows are
    // narrower than 16 floats: 10x10x50 NT with beta = 1 (a linear layer's bias) took 334 ns,
    // 73 more than with beta = 0; reading first, as long as with beta = 0 (Zen 4). (Each pass
    // keeps its own loops: as one loop taking each pass as a lambda, 50x10x10 TN took 234 ns
    // against 219.)
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
      float* c_row = s.c + (i + r) * s.c_row_step;
#pragma GCC unroll 4
      for (int v = 0; v < kStripVectors; ++v) {
        const int64_t lanes = s.width - v * kLanes;
        acc[r][v] = alpha * acc[r][v];
        if (beta == 0.f || lanes <= 0) continue;
        const float* c = kRow ? s.row + v * kLanes : c_row + v * kLanes;
        acc[r][v] = acc[r][v] + beta * (lanes >= kLanes ? load(c) : load_first(c, lanes));
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
      float* c_row = s.c + (i + r) * s.c_row_step;
#pragma GCC unroll 4
      for (int v = 0; v < kStripVectors; ++v) {
        const int64_t lanes = s.width - v * kLanes;
        if (lanes <= 0) break;
        float* c = c_row + v * kLanes;
        if (lanes >= kLanes) {
          store(c, acc[r][v]);
        } else {
          store_first(c, acc[r][v], lanes);
        }
      }
    }
    return;
  }
  float sum[Rows][kStripWidth];
#pragma GCC unroll 16
  for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kStripVectors; ++v) store(sum[r] + v * kLanes, alpha * acc[r][v]);
  const int64_t width = s.width, col_step = s.c_col_step;
  for (int r = 0; r < Rows; ++r) {
    float* c_row = s.c + (i + r) * s.c_row_step;
    if (beta == 0.f) {
      for (int64_t j = 0; j < width; ++j) c_row[j * col_step] = sum[r][j];
    } else {
      for (int64_t j = 0; j < width; ++j)
        c_row[j * col_step] = sum[r][j] + beta * c_row[j * col_step];
    }
  }
}

// Rows i..M-1 of one strip: tiles of Rows rows, then what is left in tiles of Rows/2, ..., 1
// (M = 10 runs as 4 + 4 + 2 with AVX2), so every tile keeps several independent sums in flight.
template <int Rows, bool kEdge, bool kRow>
void multiply_strip(const Strip& s, int64_t i, int64_t M) {
  for (; i + Rows <= M; i += Rows) multiply_tile<Rows, kEdge, kRow>(s, i);
  if constexpr (Rows > 1) multiply_strip<Rows / 2, kEdge, kRow>(s, i, M);
}

// A strip of M <= kMaxTileRows rows: one tile of exactly M rows.
template <int Rows, bool kEdge, bool kRow>
void multiply_rows(const Strip& s, int64_t M) {
  if constexpr (Rows > 1) {
    if (M < Rows) return multiply_rows<Rows - 1, kEdge, kRow>(s, M);
  }
  multiply_tile<Rows, kEdge, kRow>(s, 0);
}

// All M rows of one strip.
template <bool kEdge, bool kRow>
void multiply_rows_of_strip(const Strip& s, int64_t M) {
  if (M <= kMaxTileRows) {
    multiply_rows<kMaxTileRows, kEdge, kRow>(s, M);
  } else {
    multiply_strip<kTileRows, kEdge, kRow>(s, 0, M);
  }
}

// One strip, its edge read in place where masked_edge (kMaskedLoads).
template <bool kRow>
void multiply_strip_rows(const Strip& s, int64_t M, bool masked_edge) {
  if constexpr (kMaskedLoads) {
    if (masked_edge) return multiply_rows_of_strip<true, kRow>(s, M);
  }
  multiply_rows_of_strip<false, kRow>(s, M);
}

// out[c, r] = in[r, c] for a 4×4 block, the rows of `in` every in_stride floats and those of
// `out` every out_stride: four loads, eight shuffles and four stores, where element by element
// it is sixteen of each. 128-bit vectors, which every level has (AVX-512 transposes 16x16 blocks
// instead: transpose_16x16).
void transpose_4x4(const float* in, int64_t in_stride, float* out, int64_t out_stride) {
  using Quad = float __attribute__((vector_size(16)));
  Quad r[4];
  for (int i = 0; i < 4; ++i) std::memcpy(&r[i], in + i * in_stride, sizeof(Quad));
  // Rows 0 and 1 interleaved, then 2 and 3; then pairs of those: out row c is (r0c r1c r2c r3c).
  const Quad t0 = __builtin_shufflevector(r[0], r[1], 0, 4, 1, 5);
  const Quad t1 = __builtin_shufflevector(r[0], r[1], 2, 6, 3, 7);
  const Quad t2 = __builtin_shufflevector(r[2], r[3], 0, 4, 1, 5);
  const Quad t3 = __builtin_shufflevector(r[2], r[3], 2, 6, 3, 7);
  const Quad c[4] = {
      __builtin_shufflevector(t0, t2, 0, 1, 4, 5), __builtin_shufflevector(t0, t2, 2, 3, 6, 7),
      __builtin_shufflevector(t1, t3, 0, 1, 4, 5), __builtin_shufflevector(t1, t3, 2, 3, 6, 7)};
  for (int i = 0; i < 4; ++i) std::memcpy(out + i * out_stride, &c[i], sizeof(Quad));
}

#if defined(__AVX512F__)
// One round of transpose_16x16: rows i and i + b (bit b of i clear) trade the lanes where bit b
// of the lane differs from bit b of the row. The first row keeps its lanes with bit b clear and
// takes the second's lanes l - b into lanes l with bit b set; the second, the other way round.
template <int b, int... lane>
[[gnu::always_inline]] inline void transpose_round(Vector r[16],
                                                   std::integer_sequence<int, lane...>) {
  for (int i = 0; i < 16; ++i) {
    if (i & b) continue;
    const Vector first = r[i], second = r[i + b];
    r[i] = __builtin_shufflevector(first, second, ((lane & b) ? 16 + lane - b : lane)...);
    r[i + b] = __builtin_shufflevector(first, second, ((lane & b) ? 16 + lane : lane + b)...);
  }
}

// The 16 rows r[0..15] transposed in registers (r[c][k] becomes r[k][c]): rounds for bits 8, 4,
// 2 and 1, 64 shuffles for 256 floats. Always inlined: once it had two callers, GCC 12 called
// it, the rows passing through memory (NT 10x50x10 236 -> 312 ns).
[[gnu::always_inline]] inline void transpose_16x16(Vector r[16]) {
  constexpr auto lanes = std::make_integer_sequence<int, 16>();
  transpose_round<8>(r, lanes);
  transpose_round<4>(r, lanes);
  transpose_round<2>(r, lanes);
  transpose_round<1>(r, lanes);
}
#endif

// packed[k, col] = op(B)[k, j + col] for col < width, zero-padded to 16 columns: a tile always
// computes all 16 lanes (and stores only `width`), so the spare lanes must hold defined values.
// op(B)[k, n] = B[k * k_step + n * n_step].
void pack_strip(bool trans_b, const float* B, int64_t ldb, int64_t K, int64_t j, int64_t width,
                float* packed) {
  const int64_t k_step = trans_b ? 1 : ldb, n_step = trans_b ? ldb : 1;
#if defined(__AVX512F__)
  if (trans_b) {
    // Sixteen of B's rows (the strip's columns, zero past its width), sixteen k at a time,
    // transposed in registers are sixteen whole rows of the strip, each stored in one go.
    // Against the 4x4 blocks below (minima of three interleaved runs, Zen 4): NT 10x50x10 268
    // -> 235 ns, 10x10x50 259 -> 223, 64x50x10 982 -> 934, 16x16x16 129 -> 122.
    for (int64_t k = 0; k < K; k += kLanes) {
      const int64_t depth = std::min<int64_t>(kLanes, K - k);
      Vector r[16];
      for (int c = 0; c < 16; ++c)
        r[c] = c < width ? load_first(B + (j + c) * ldb + k, depth) : Vector{};
      transpose_16x16(r);
      for (int64_t d = 0; d < depth; ++d) store(packed + (k + d) * kStripWidth, r[d]);
    }
    return;
  }
#endif
  if (width < kStripWidth) std::fill(packed, packed + K * kStripWidth, 0.f);
  int64_t col = 0;
  if (trans_b) {
    // Bᵀ (a linear layer's weight, the usual case): four of B's rows, four k at a time,
    // transposed are four rows of four of the strip's columns. A 10x50x10 NT product (the seed
    // step's first layer) took 390-550 ns packing element by element, 300-350 ns this way.
    const int64_t k_blocks = K / 4 * 4;
    for (; col + 4 <= width; col += 4) {
      const float* b = B + (j + col) * ldb;
      for (int64_t k = 0; k < k_blocks; k += 4)
        transpose_4x4(b + k, ldb, packed + k * kStripWidth + col, kStripWidth);
      for (int64_t k = k_blocks; k < K; ++k)
        for (int c = 0; c < 4; ++c) packed[k * kStripWidth + col + c] = b[c * ldb + k];
    }
  }
  // The rest column by column: for Bᵀ each column of the strip is a row of B, read
  // contiguously; that is twice as fast as reading 16 rows of B at once.
  for (; col < width; ++col) {
    const float* b = B + (j + col) * n_step;
    for (int64_t k = 0; k < K; ++k) packed[k * kStripWidth + col] = b[k * k_step];
  }
}

// C = alpha * op(A)·op(B) + beta * C (or + beta * row on every row, where row is not null) for
// small products (use_direct_gemm), one 16-column strip of C at a time, on this thread, with no
// heap allocation. C[i, j] is C[i * c_row_step + j * c_col_step]: (ldc, 1) for C itself, (1,
// ldc) to write Cᵀ (only without a row).
void direct_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                 const float* row, float* C, int64_t c_row_step, int64_t c_col_step) {
  float packed[kDirectMaxDepth * kStripWidth];  // [K, 16]
  for (int64_t j = 0; j < N; j += kStripWidth) {
    const int64_t width = std::min<int64_t>(kStripWidth, N - j);
    // A full strip of an untransposed B is already [K, 16] with row stride ldb: read it in place.
    const bool masked_edge = kMaskedLoads && !trans_b && width < kStripWidth;
    const bool in_place = !trans_b && (width == kStripWidth || masked_edge);
    if (!in_place) pack_strip(trans_b, B, ldb, K, j, width, packed);
    const Strip strip{.a = A,
                      .a_row_step = trans_a ? 1 : lda,
                      .a_k_step = trans_a ? lda : 1,
                      .K = K,
                      .b = in_place ? B + j : packed,
                      .b_stride = in_place ? ldb : kStripWidth,
                      .alpha = alpha,
                      .beta = beta,
                      .c = C + j * c_col_step,
                      .c_row_step = c_row_step,
                      .c_col_step = c_col_step,
                      .width = width,
                      .row = row == nullptr ? nullptr : row + j};
    if (row == nullptr) {
      multiply_strip_rows<false>(strip, M, masked_edge);
    } else {
      multiply_strip_rows<true>(strip, M, masked_edge);
    }
  }
}

// C = alpha * a·bᵀ + beta * C (or + beta * row on every row) for K = 1, an outer product: row i
// of C is a_i times op(B)'s one row, a vectorised pass per row. Through the direct kernel each
// 4-row tile spent longer setting up and writing back than multiplying: 64x50x1 NT took 1.07 us
// there, 0.39 here (AVX2, Zen 3, the minimum of three interleaved runs). Rounded as the tiles
// round: alpha * (a_i * b_j) (+ beta * c).
void outer_product(int64_t M, int64_t N, float alpha, const float* a, int64_t a_step,
                   const float* b, int64_t b_step, float beta, const float* row, float* C,
                   int64_t ldc) {
  if constexpr (kMaskedLoads) {
    if (b_step == 1 && beta == 0.f && N <= kLanes) {
      // A row narrower than 16 floats (a task head's 10x10x1) as one masked vector, where the
      // loop below writes it one float at a time: 64x10x1 148 -> 62 ns (Zen 4). Not with
      // beta != 0, whose read of a row would wait on the masked store of the row before (see
      // multiply_tile): 184 -> 566 ns; nor for wider rows, whose masked last vector made
      // 64x50x1 212 -> 265 ns.
      const Vector b_row = load_first(b, N);
      for (int64_t i = 0; i < M; ++i)
        store_first(C + i * ldc, alpha * (broadcast(a[i * a_step]) * b_row), N);
      return;
    }
  }
  const auto rows = [&](auto b_at) {
    for (int64_t i = 0; i < M; ++i) {
      const float a_i = a[i * a_step];
      float* c = C + i * ldc;
      const float* c0 = row == nullptr ? c : row;
      if (beta == 0.f) {
        for (int64_t j = 0; j < N; ++j) c[j] = alpha * (a_i * b_at(j));
      } else {
        for (int64_t j = 0; j < N; ++j) c[j] = alpha * (a_i * b_at(j)) + beta * c0[j];
      }
    }
  };
  // op(B)'s row is contiguous unless it is a column of a wider Bᵀ.
  if (b_step == 1) {
    rows([b](int64_t j) { return b[j]; });
  } else {
    rows([b, b_step](int64_t j) { return b[j * b_step]; });
  }
}

// A product with a vector operand (M == 1 or N == 1) and at most this many multiply-adds is
// summed here, with no setup: a task head's 10x1x10 NT took 77-94 ns through Eigen's
// matrix-vector kernel and 52 with Eigen's product inlined into the caller, whose setup is
// most of that; its weight gradient 1x10x10 TN 66 vs 27 ns (AVX-512, Zen 4). Beyond it, the
// scalar sums below fall behind Eigen's vectorised ones: 1x32x32 TN 207 vs 97 ns, 64x1x50 NT 600
// vs 460 ns.
constexpr int64_t kVectorProductMaxWork = 256;

// Whether vector_product takes a product with a vector operand: P sums of K terms, each sum's
// terms along a row of the matrix operand (`along_rows`: a row of C from B's rows, a weight
// gradient) or each sum one row's dot product (a column of C from A's rows, a layer with one
// output). With AVX-512 it sums in vectors and takes more than the scalar limit: sums of up to
// kDirectMaxDepth terms, and down rows at most four vectors wide. Eigen's kernels against
// these, ns, Zen 4, three interleaved runs: 64x1x50 NT (an ensemble member's output layer)
// 430-447 vs 219-221, with A's rows 400 floats apart (a batched ensemble's) 410-420 vs 257-261,
// 500x1x100 NT 4,376-4,560 vs 2,466-2,517, 1x50x64 TN (its weight gradient) 223-225 vs
// 170-171, from rows 400 floats apart 237-244 vs 234-237. Beyond these limits Eigen's lead:
// 256x1x1024 NT 13,900 vs 36,000 as dot products, 1x1024x256 TN 17,200 vs 19,800 down rows 64
// columns at a time.
bool vector_product_takes(int64_t P, int64_t K, bool along_rows) {
  if (P * K <= kVectorProductMaxWork) return true;
  return kMaskedLoads && K <= kDirectMaxDepth && (!along_rows || P <= 4 * kLanes);
}

#if defined(__AVX512F__)
// Σ_k a[p * a_p + k] · b[k * b_k] for p < P, in one vector, for P, K <= 16: A's rows transposed
// in registers, then one multiply-add per k. Out of line: inlined into vector_product, it made
// that function's other path slower (1x10x10 TN 16 -> 24 ns, Zen 4).
[[gnu::noinline]] Vector sums_of_rows(int64_t P, int64_t K, const float* a, int64_t a_p,
                                      const float* b, int64_t b_k) {
  Vector columns[16];  // A's rows, then transposed: columns[k] = a[0..P-1, k]
  for (int64_t p = 0; p < kLanes; ++p) columns[p] = p < P ? load_first(a + p * a_p, K) : Vector{};
  transpose_16x16(columns);
  Vector sums{};
  for (int64_t k = 0; k < K; ++k) sums = multiply_add(sums, columns[k], broadcast(b[k * b_k]));
  return sums;
}

// The sums over k of a[k * a_k + p] · b[k * b_k] for V vectors of p from a's start, the last
// vector's lanes past `last` zero: V chains of multiply-adds side by side, each k one broadcast of
// b and one load of a's row per vector, each sum over k in increasing order (as the tiles sum).
template <int V>
void sums_down_rows(int64_t K, const float* a, int64_t a_k, const float* b, int64_t b_k,
                    int64_t last, Vector sums[]) {
  for (int v = 0; v < V; ++v) sums[v] = Vector{};
  for (int64_t k = 0; k < K; ++k) {
    const Vector b_k_value = broadcast(b[k * b_k]);
    const float* row = a + k * a_k;
    for (int v = 0; v < V; ++v) {
      const Vector x = v + 1 < V ? load(row + v * kLanes) : load_first(row + v * kLanes, last);
      sums[v] = multiply_add(sums[v], x, b_k_value);
    }
  }
}

// The dot products of `rows` (at most 16) rows of a, a_p apart and each K long, with b (its
// elements b_k apart), in one vector: each row's products summed lane by lane over k (lane l
// takes the k = l mod 16, in increasing order), then the 16 rows' lane sums transposed in
// registers and added lane 0 first, so that lane r holds row r's dot product.
Vector dots_of_rows(int64_t rows, int64_t K, const float* a, int64_t a_p, const float* b,
                    int64_t b_k) {
  Vector sums[16];
  for (int r = 0; r < 16; ++r) sums[r] = Vector{};
  for (int64_t k = 0; k < K; k += kLanes) {
    const int64_t depth = std::min<int64_t>(kLanes, K - k);
    Vector b_chunk{};
    if (b_k == 1) {
      b_chunk = load_first(b + k, depth);
    } else {
      for (int64_t l = 0; l < depth; ++l) b_chunk[l] = b[(k + l) * b_k];
    }
    for (int r = 0; r < 16; ++r) {
      if (r < rows) sums[r] = multiply_add(sums[r], load_first(a + r * a_p + k, depth), b_chunk);
    }
  }
  transpose_16x16(sums);
  Vector total = sums[0];
  for (int l = 1; l < 16; ++l) total += sums[l];
  return total;
}

// c[p * c_step] = alpha · sums[p] + beta · c0[p * c0_step] for the first n of the sums.
void write_sums(Vector sums, int64_t n, float alpha, float beta, const float* c0, int64_t c0_step,
                float* c, int64_t c_step) {
  const Vector scaled = alpha * sums;
  if (c_step == 1 && c0_step == 1) {
    store_first(c, beta == 0.f ? scaled : scaled + beta * load_first(c0, n), n);
    return;
  }
  for (int64_t p = 0; p < n; ++p) {
    c[p * c_step] = beta == 0.f ? scaled[p] : scaled[p] + beta * c0[p * c0_step];
  }
}

// vector_product's larger products (vector_product_takes; gemm passes a_p or a_k as 1): up to four
// vectors of sums down B's rows at a time, or dot products of 16 rows of A at a time. Out of
// line, as sums_of_rows: inlined, it made vector_product's small path slower (1x10x10 TN 10.9
// -> 14.0 ns, 10x1x10 NT 23.3 -> 24.9 ns).
[[gnu::noinline]] void larger_vector_product(int64_t P, int64_t K, float alpha, const float* a,
                                             int64_t a_p, int64_t a_k, const float* b, int64_t b_k,
                                             float beta, const float* c0, int64_t c0_step, float* c,
                                             int64_t c_step) {
  if (a_p == 1) {
    for (int64_t p = 0; p < P; p += 4 * kLanes) {
      const int64_t n = std::min<int64_t>(4 * kLanes, P - p);
      const int64_t vectors = (n + kLanes - 1) / kLanes, last = n - (vectors - 1) * kLanes;
      Vector sums[4];
      if (vectors == 1) sums_down_rows<1>(K, a + p, a_k, b, b_k, last, sums);
      if (vectors == 2) sums_down_rows<2>(K, a + p, a_k, b, b_k, last, sums);
      if (vectors == 3) sums_down_rows<3>(K, a + p, a_k, b, b_k, last, sums);
      if (vectors == 4) sums_down_rows<4>(K, a + p, a_k, b, b_k, last, sums);
      for (int64_t v = 0; v < vectors; ++v) {
        const int64_t first = p + v * kLanes;
        write_sums(sums[v], v + 1 < vectors ? kLanes : last, alpha, beta, c0 + first * c0_step,
                   c0_step, c + first * c_step, c_step);
      }
    }
    return;
  }
  for (int64_t p = 0; p < P; p += kLanes) {
    const int64_t n = std::min<int64_t>(kLanes, P - p);
    write_sums(dots_of_rows(n, K, a + p * a_p, a_p, b, b_k), n, alpha, beta, c0 + p * c0_step,
               c0_step, c + p * c_step, c_step);
  }
}
#else
// acc + a * b, rounded once where this level has FMA (as multiply_add above).
float multiply_add(float acc, float a, float b) {
#if defined(__FMA__)
  return __builtin_fmaf(a, b, acc);
#else
  return acc + a * b;
#endif
}
#endif

// C = alpha * op(A)·op(B) + beta * C0 for M == 1 or N == 1: P dot products of length K with
// one shared vector, P the other dim, each summed over k in increasing order (as the tiles sum;
// with AVX-512, a column of C from A's rows with more than 16 rows or terms is summed lane by
// lane, see dots_of_rows). Output p is c[p * c_step], its C0 term c0[p * c0_step] (C itself, or the
// row added to every row of C); its k-th terms are a[p * a_p + k * a_k] and the vector's
// b[k * b_k].
void vector_product(int64_t P, int64_t K, float alpha, const float* a, int64_t a_p, int64_t a_k,
                    const float* b, int64_t b_k, float beta, const float* c0, int64_t c0_step,
                    float* c, int64_t c_step) {
#if defined(__AVX512F__)  // kMaskedLoads, and transpose_16x16
  // The P sums in one vector, where the loop below leaves fewer than 16 sums to scalar code.
  // A row of C from B's rows (a task head's weight gradient, 1x10x10 TN) reads each of those
  // rows with a masked load; a column of C from A's rows (a task head's forward, 10x1x10 NT)
  // transposes A's rows in registers first (sums_of_rows): 10x1x10 NT 45.8 -> 27.0 ns, where
  // libxsmm takes 26.1 (Zen 4, minima of three interleaved runs).
  const bool from_rows = a_p == 1 && P <= kLanes;
  const bool from_columns = a_k == 1 && P <= kLanes && K <= kLanes;
  if (from_rows || from_columns) {
    Vector sums{};
    if (from_rows) {
      sums_down_rows<1>(K, a, a_k, b, b_k, P, &sums);
    } else {
      sums = sums_of_rows(P, K, a, a_p, b, b_k);
    }
    write_sums(sums, P, alpha, beta, c0, c0_step, c, c_step);
    return;
  }
  larger_vector_product(P, K, alpha, a, a_p, a_k, b, b_k, beta, c0, c0_step, c, c_step);
#else
  // k outer, p inner: the P sums are independent chains, and where a_p is 1 (a row of C from
  // B's rows) the inner loop is one vectorised multiply-add per k.
  float sums[kVectorProductMaxWork];
  std::fill_n(sums, P, 0.f);
  for (int64_t k = 0; k < K; ++k) {
    const float* a_k_row = a + k * a_k;
    const float b_pk = b[k * b_k];
    for (int64_t p = 0; p < P; ++p) sums[p] = multiply_add(sums[p], a_k_row[p * a_p], b_pk);
  }
  for (int64_t p = 0; p < P; ++p) {
    c[p * c_step] = beta == 0.f ? alpha * sums[p] : alpha * sums[p] + beta * c0[p * c0_step];
  }
#endif
}

}  // namespace

// The product of gemm.h's gemm() (row null) or gemm_row(), with this level's instructions.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, const float* row, float* C,
          int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (beta == 0.f) row = nullptr;
  // The products read the row in place of C, but for these paths it is copied into C first.
  const auto row_into_c = [&] {
    if (row != nullptr) fill_rows(row, N, C, M, ldc);
  };
  MatrixMap c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    row_into_c();
    // An empty sum: op(A)·op(B) is all zeros.
    if (beta == 0.f) {
      c.setZero();
    } else {
      c *= beta;
    }
    return;
  }
  if (K == 1) {
    outer_product(M, N, alpha, A, trans_a ? 1 : lda, B, trans_b ? ldb : 1, beta, row, C, ldc);
    return;
  }
  if ((M == 1 || N == 1) && vector_product_takes(N == 1 ? M : N, K, N == 1 ? trans_a : !trans_b)) {
    // op(A)[i, k] = A[i * lda + k] (or A[k * lda + i]), op(B)[k, j] = B[k * ldb + j] (or
    // B[j * ldb + k]): a column of C pairs A's rows with op(B)'s one column, a row pairs op(A)'s
    // one row with B's columns.
    const int64_t a_row = trans_a ? 1 : lda, a_k = trans_a ? lda : 1;
    const int64_t b_col = trans_b ? ldb : 1, b_k = trans_b ? 1 : ldb;
    if (N == 1) {
      vector_product(M, K, alpha, A, a_row, a_k, B, b_k, beta, row == nullptr ? C : row,
                     row == nullptr ? ldc : 0, C, ldc);
    } else {
      vector_product(N, K, alpha, B, b_col, b_k, A, a_k, beta, row == nullptr ? C : row, 1, C, 1);
    }
    return;
  }
  if (use_transposed_direct_gemm(trans_a, M, N, K)) {
    // Cᵀ = op(B)ᵀ·op(A)ᵀ, written into C transposed.
    row_into_c();
    direct_gemm(!trans_b, !trans_a, N, M, K, alpha, B, ldb, A, lda, beta, nullptr, C, 1, ldc);
    return;
  }
  if (use_direct_gemm(trans_b, M, N, K)) {
    direct_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, row, C, ldc, 1);
    return;
  }
  row_into_c();
#ifdef _OPENMP
  // Eigen splits a product across threads once it exceeds ~50,000 multiply-adds, but waking
  // and joining OpenMP threads costs more than that saves until products are far larger, and
  // idle OpenMP workers spin: on a busy machine, many small GEMMs in a row (a training loop)
  // ran 60x slower. Below kParallelWork this thread runs the product alone (the setting is per
  // calling thread, so other threads are unaffected).
  const bool small = double(M) * double(N) * double(K) < kParallelWork;
  const int threads = omp_get_max_threads();
  if (small) omp_set_num_threads(1);
#endif
  eigen_product(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#ifdef _OPENMP
  if (small) omp_set_num_threads(threads);
#endif
}

}  // namespace ember::kernels::cpu::EMBER_CPU_LEVEL
