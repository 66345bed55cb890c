// Matrix products. One primitive, a batch of GEMMs with optional transposes, carries the
// gradient rule; matmul's 1-d and broadcast cases reshape and expand around it.

#include <ember/core/ops/common.h>
#include <ember/kernels/cpu/gemm.h>

namespace ember {

namespace {

std::string shapes(const Tensor& a, const Tensor& b) {
  return to_string(a.shape()) + " and " + to_string(b.shape());
}

// C[i] = op(A[i]) · op(B[i]) for each batch index i. a: [..., r, c], b: [..., r, c] with the
// same leading (batch) dims; op transposes the last two dims when asked.
//   dA = dC · op(B)ᵀ (or its transpose), dB = op(A)ᵀ · dC (or its transpose)
Tensor batched_gemm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const int64_t nd = a.dim();
  const int64_t M = trans_a ? a.shape()[nd - 1] : a.shape()[nd - 2];
  const int64_t K = trans_a ? a.shape()[nd - 2] : a.shape()[nd - 1];
  const int64_t N = trans_b ? b.shape()[nd - 2] : b.shape()[nd - 1];
  Shape shape(a.shape().begin(), a.shape().end() - 2);
  const int64_t batch = numel_of(shape);
  shape.push_back(M);
  shape.push_back(N);
  Tensor out = empty(shape);
  const int64_t lda = a.shape()[nd - 1], ldb = b.shape()[nd - 1];
  for (int64_t i = 0; i < batch; ++i) {
    kernels::cpu::gemm(trans_a, trans_b, M, N, K, 1.f, a.data() + i * M * K, lda,
                       b.data() + i * K * N, ldb, 0.f, out.data() + i * M * N, N);
  }
  return record("BmmBackward0", std::move(out), {a, b}, {a, b},
                [trans_a, trans_b](const Tensor& g, const BackwardContext& ctx) {
                  const Tensor &a = ctx.saved[0], &b = ctx.saved[1];
                  return Grads{detail::grad_if(ctx, 0,
                                               [&] {
                                                 return trans_a
                                                            ? batched_gemm(b, g, trans_b, true)
                                                            : batched_gemm(g, b, false, !trans_b);
                                               }),
                               detail::grad_if(ctx, 1, [&] {
                                 return trans_b ? batched_gemm(g, a, true, trans_a)
                                                : batched_gemm(a, g, !trans_a, false);
                               })};
                });
}

// linear's product and gradient rule for rows x [B, in] and a weight w [N, in] (linear), or,
// when kViewed, w [K, out, in] read as [N, in] with N = K·out (batched_linear with a shared
// input). b, if defined, holds N floats: [N], or [K, out]. y: [B, N], or [B, K, out].
//   y = x·wᵀ + b;  dx = g·w, dw = gᵀ·x, db = Σ_rows g  (on the [B, N] and [N, in] views)
// The GEMM adds the bias row to every row as it writes it (gemm_row): one pass over the
// output, where copying the bias into each row first cost 15-40 ns of a seed-step linear's
// 50-320.
template <bool kViewed>
Tensor linear_rows(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t batch = x.shape()[0], in = x.shape()[1];
  const int64_t rows = kViewed ? w.shape()[0] * w.shape()[1] : w.shape()[0];
  Tensor out = kViewed ? empty({batch, w.shape()[0], w.shape()[1]}) : empty({batch, rows});
  kernels::cpu::gemm_row(false, true, batch, rows, in, 1.f, x.data(), in, w.data(), in,
                         b.defined() ? 1.f : 0.f, b.defined() ? b.data() : nullptr, out.data(),
                         rows);
  const char* name = kViewed ? "BatchedAddmmBackward" : "AddmmBackward0";
  return record(
      name, std::move(out), {x, w, b}, {x, w}, [](const Tensor& g, const BackwardContext& ctx) {
        const Tensor &x = ctx.saved[0], &w = ctx.saved[1];
        if constexpr (kViewed) {
          const int64_t rows = w.shape()[0] * w.shape()[1];
          const Tensor g2 = reshape(g, {x.shape()[0], rows});
          return Grads{
              detail::grad_if(
                  ctx, 0,
                  [&] {
                    return batched_gemm(g2, reshape(w, {rows, x.shape()[1]}), false, false);
                  }),
              detail::grad_if(ctx, 1,
                              [&] { return reshape(batched_gemm(g2, x, true, false), w.shape()); }),
              detail::grad_if(ctx, 2, [&] {
                return reshape(sum(g2, {0}), {w.shape()[0], w.shape()[1]});
              })};
        } else {
          return Grads{detail::grad_if(ctx, 0, [&] { return batched_gemm(g, w, false, false); }),
                       detail::grad_if(ctx, 1, [&] { return batched_gemm(g, x, true, false); }),
                       detail::grad_if(ctx, 2, [&] { return sum(g, {0}); })};
        }
      });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  detail::check_defined(a, "matmul");
  detail::check_defined(b, "matmul");
  detail::check_same_device(a, b, "matmul");
  if (a.dim() == 0 || b.dim() == 0) {
    throw Error("matmul: both arguments need at least 1 dimension, got shapes " + shapes(a, b));
  }
  const int64_t inner_a = a.shape().back();
  const int64_t inner_b = b.dim() == 1 ? b.shape()[0] : b.shape()[b.dim() - 2];
  if (inner_a != inner_b) {
    throw Error("matmul: shapes " + shapes(a, b) + " are not aligned (" + std::to_string(inner_a) +
                " != " + std::to_string(inner_b) + ")");
  }
  // A 1-d operand is a row (left) or a column (right) whose unit dim is dropped at the end.
  const Tensor a2 = a.dim() == 1 ? unsqueeze(a, 0) : a;
  const Tensor b2 = b.dim() == 1 ? unsqueeze(b, 1) : b;
  Shape result;
  Tensor product;
  if (b2.dim() == 2) {
    // [..., M, K] · [K, N]: fold every batch dim of a into M, one GEMM.
    // (Sizes are spelled out rather than inferred with -1, which is ambiguous when K = 0.)
    result.assign(a2.shape().begin(), a2.shape().end() - 1);
    product = batched_gemm(reshape(a2, {numel_of(result), inner_a}), b2, false, false);
  } else {
    // Broadcast the batch dims, then one GEMM per batch entry.
    const Shape batch_a(a2.shape().begin(), a2.shape().end() - 2);
    const Shape batch_b(b2.shape().begin(), b2.shape().end() - 2);
    result = broadcast_shape(batch_a, batch_b, "matmul");
    Shape full_a = result, full_b = result;
    full_a.insert(full_a.end(), a2.shape().end() - 2, a2.shape().end());
    full_b.insert(full_b.end(), b2.shape().end() - 2, b2.shape().end());
    const int64_t batch = numel_of(result);
    const Tensor a3 = reshape(expand(a2, full_a), {batch, full_a[full_a.size() - 2], inner_a});
    const Tensor b3 = reshape(expand(b2, full_b), {batch, inner_a, full_b.back()});
    product = batched_gemm(a3, b3, false, false);
    result.push_back(full_a[full_a.size() - 2]);
  }
  result.push_back(b2.shape().back());
  Tensor out = reshape(product, result);
  if (a.dim() == 1) out = squeeze(out, -2);
  if (b.dim() == 1) out = squeeze(out, -1);
  return out;
}

// y = x·wᵀ + b over the last dim of x (linear_rows holds the product and its gradients)
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  detail::check_defined(x, "linear");
  detail::check_defined(w, "linear");
  detail::check_same_device(x, w, "linear");
  if (w.dim() != 2 || x.dim() == 0 || x.shape().back() != w.shape()[1]) {
    throw Error("linear: input " + to_string(x.shape()) + " and weight " + to_string(w.shape()) +
                " do not fit (expected input [..., in] and weight [out, in])");
  }
  const int64_t in = w.shape()[1], out_features = w.shape()[0];
  if (b.defined() && b.shape() != Shape{out_features}) {
    throw Error("linear: bias shape " + to_string(b.shape()) + " should be [" +
                std::to_string(out_features) + "] for weight " + to_string(w.shape()));
  }
  // A 2-d input is used as is: no reshape nodes around the common case. (No handle is copied
  // on this path: a copy and its release cost ~5 ns of atomic reference counting, the release
  // waiting on the copy's count.)
  if (x.dim() == 2) return linear_rows<false>(x, w, b);
  Shape shape(x.shape().begin(), x.shape().end() - 1);
  const Tensor out = linear_rows<false>(reshape(x, {numel_of(shape), in}), w, b);
  shape.push_back(out_features);
  return reshape(out, shape);
}

namespace {

// Member k's rows of a member-minor tensor [B, K, c] are c floats every K·c: a GEMM operand at
// data + k·c with row stride K·c.
//
// dw[k] = Σ_b g[b, k]ᵀ·x[b, k] for g [B, K, out] and x [B, K, in] -> [K, out, in]: the weight
// gradient of batched_linear with a per-member input, an op of its own so that it can be
// differentiated again (create_graph).
//   dg[b, k] = x[b, k]·G[k]ᵀ, dx[b, k] = g[b, k]·G[k]  (batched_linear with G, or Gᵀ)
Tensor member_weight_grad(const Tensor& g, const Tensor& x) {
  const int64_t batch = g.shape()[0], members = g.shape()[1];
  const int64_t out_features = g.shape()[2], in = x.shape()[2];
  Tensor dw = empty({members, out_features, in});
  for (int64_t k = 0; k < members; ++k) {
    kernels::cpu::gemm(true, false, out_features, in, batch, 1.f, g.data() + k * out_features,
                       members * out_features, x.data() + k * in, members * in, 0.f,
                       dw.data() + k * out_features * in, in);
  }
  return record("BatchedLinearWeightBackward", std::move(dw), {g, x}, {g, x},
                [](const Tensor& G, const BackwardContext& ctx) {
                  const Tensor &g = ctx.saved[0], &x = ctx.saved[1];
                  return Grads{detail::grad_if(ctx, 0, [&] { return batched_linear(x, G); }),
                               detail::grad_if(
                                   ctx, 1, [&] { return batched_linear(g, transpose(G, 1, 2)); })};
                });
}

}  // namespace

// y[b, k] = x[b, k]·w[k]ᵀ + bias[k] for each member k; a 2-d x is every member's input.
//   dx[b, k] = g[b, k]·w[k], dw[k] = Σ_b g[b, k]ᵀ·x[b, k], dbias[k] = Σ_b g[b, k]
// The member dim sits next to the features ([B, K, ...], not [K, B, ...]) so that a shared x
// needs no reordering either way: w's rows, member after member, are one [K·out, in] weight,
// and y is linear's product with it viewed as [B, K, out], one node (linear_rows) with one GEMM
// forward and one per gradient. A per-member x gives one GEMM per member on strided rows,
// nothing copied.
Tensor batched_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  detail::check_defined(x, "batched_linear");
  detail::check_defined(w, "batched_linear");
  detail::check_same_device(x, w, "batched_linear");
  const bool shared_input = x.dim() == 2;
  if (w.dim() != 3 || (x.dim() != 2 && x.dim() != 3) || x.shape().back() != w.shape()[2] ||
      (!shared_input && x.shape()[1] != w.shape()[0])) {
    throw Error("batched_linear: input " + to_string(x.shape()) + " and weight " +
                to_string(w.shape()) +
                " do not fit (expected input [B, K, in] or [B, in] and weight [K, out, in])");
  }
  const int64_t members = w.shape()[0], out_features = w.shape()[1], in = w.shape()[2];
  if (b.defined() && b.shape() != Shape{members, out_features}) {
    throw Error("batched_linear: bias shape " + to_string(b.shape()) + " should be [" +
                std::to_string(members) + ", " + std::to_string(out_features) + "] for weight " +
                to_string(w.shape()));
  }
  if (shared_input) return linear_rows<true>(x, w, b);
  const int64_t batch = x.shape()[0];
  Tensor out = empty({batch, members, out_features});
  // The biases are copied into every row first, all members' at once, then each member's GEMM
  // adds onto its columns of it. (Through gemm_row, a member's product that goes to Eigen
  // would copy its bias row into each of its rows one by one, as they are not contiguous.)
  const int64_t width = members * out_features;
  if (b.defined()) kernels::cpu::fill_rows(b.data(), width, out.data(), batch, width);
  for (int64_t k = 0; k < members; ++k) {
    kernels::cpu::gemm(false, true, batch, out_features, in, 1.f, x.data() + k * in, members * in,
                       w.data() + k * out_features * in, in, b.defined() ? 1.f : 0.f,
                       out.data() + k * out_features, width);
  }
  return record(
      "BatchedAddmmBackward", std::move(out), {x, w, b}, {x, w},
      [](const Tensor& g, const BackwardContext& ctx) {
        const Tensor &x = ctx.saved[0], &w = ctx.saved[1];
        return Grads{detail::grad_if(ctx, 0, [&] { return batched_linear(g, transpose(w, 1, 2)); }),
                     detail::grad_if(ctx, 1, [&] { return member_weight_grad(g, x); }),
                     detail::grad_if(ctx, 2, [&] { return sum(g, {0}); })};
      });
}

}  // namespace ember
