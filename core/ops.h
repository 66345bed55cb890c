#pragma once
// Every differentiable op, as a free function. Each is defined with its backward beside it
// in core/ops/<family>.cpp; the math of the gradient is one comment line there.
//
// Binary ops broadcast like NumPy/PyTorch and throw Error naming the op and both shapes when
// the shapes do not broadcast. A float on either side acts as a 0-d constant.

#include <vector>

#include <ember/core/tensor.h>

namespace ember {

// -- elementwise binary (core/ops/binary.cpp) -----------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
/// a^b elementwise.
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, float exponent);
/// Elementwise max/min. Where a == b the gradient is split equally, as in PyTorch.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
/// a where `condition` is nonzero, b elsewhere (all three broadcast). Differentiable in a, b.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);

// Comparisons: 1.0 where true, 0.0 where false. Not differentiable.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, float b);
Tensor operator-(const Tensor& a, float b);
Tensor operator*(const Tensor& a, float b);
Tensor operator/(const Tensor& a, float b);
Tensor operator+(float a, const Tensor& b);
Tensor operator-(float a, const Tensor& b);
Tensor operator*(float a, const Tensor& b);
Tensor operator/(float a, const Tensor& b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, float b);
Tensor operator!=(const Tensor& a, float b);
Tensor operator<(const Tensor& a, float b);
Tensor operator<=(const Tensor& a, float b);
Tensor operator>(const Tensor& a, float b);
Tensor operator>=(const Tensor& a, float b);

// -- elementwise unary (core/ops/unary.cpp) -------------------------------------------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
/// |x|; the gradient at 0 is 0, as in PyTorch.
Tensor abs(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor erf(const Tensor& x);
/// x * Phi(x) (erf form), or the tanh approximation when `tanh_approximation`.
Tensor gelu(const Tensor& x, bool tanh_approximation = false);
/// log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold (as PyTorch).
Tensor softplus(const Tensor& x, float beta = 1.f, float threshold = 20.f);
/// min(max(x, min), max). Throws if min > max.
Tensor clamp(const Tensor& x, float min, float max);

// -- reductions (core/ops/reduce.cpp) -------------------------------------------------------
// `dims` may be negative and must not repeat; an empty `dims` reduces over everything.
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, const Dims& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const Dims& dims, bool keepdim = false);
/// Variance; `unbiased` divides by n - 1 (Bessel's correction) instead of n.
Tensor var(const Tensor& x, bool unbiased = true);
Tensor var(const Tensor& x, const Dims& dims, bool unbiased = true, bool keepdim = false);
/// Standard deviation, sqrt(var) with var's options. Where the variance is 0 the gradient is
/// 0, as in PyTorch (sqrt's own would be infinite). Spell it ember::std(x) or x.std(): after
/// `using namespace ember`, a plain std(x) is ambiguous with namespace std.
Tensor std(const Tensor& x, bool unbiased = true);
Tensor std(const Tensor& x, const Dims& dims, bool unbiased = true, bool keepdim = false);

/// Values and indices (as floats) of the max/min along `dim`, like torch.max(x, dim).
struct ValuesIndices {
  Tensor values;
  Tensor indices;
};
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
/// log(sum(exp(x))) along `dim`, computed as m + log(sum(exp(x - m))) with m the max.
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim = false);

// -- softmax family (core/ops/softmax.cpp) --------------------------------------------------
/// exp(x - max) / sum(exp(x - max)) along `dim`. Finite at any finite logits (±1e4
/// included); a row holding NaN or +inf, or only -inf, is NaN, as in PyTorch.
Tensor softmax(const Tensor& x, int64_t dim);
/// x - max - log(sum(exp(x - max))) along `dim`.
Tensor log_softmax(const Tensor& x, int64_t dim);

// -- shape (core/ops/shape.cpp) -------------------------------------------------------------
/// A copy with its own storage (differentiable, like torch.clone; clone(x.detach()) for a
/// plain copy).
Tensor clone(const Tensor& x);
/// Same storage, new shape; one size may be -1 (inferred). Throws if numel differs.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
/// Output dim i is input dim dims[i] (copies).
Tensor permute(const Tensor& x, const Dims& dims);
Tensor unsqueeze(const Tensor& x, int64_t dim);
/// Removes every size-1 dim, or only `dim` if it has size 1.
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, int64_t dim);
/// Joins tensors along an existing dim; all other sizes must match.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
/// Joins equal-shaped tensors along a new dim.
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
/// Elements [start, start + length) along `dim` (copies).
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
/// Python-style x[..., start:end, ...] along `dim`; negative and out-of-range bounds clip.
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);
/// Picks entries `index` (a 1-d tensor of integral values) along `dim`.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
/// x with `source` added at entries `index` along `dim` (repeated indices add up).
/// source has x's shape except size index.numel() along `dim`.
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source);
/// Broadcasts x to `shape` (copies); -1 keeps a size.
Tensor expand(const Tensor& x, const Shape& shape);
/// Sums `x` down to `shape`: the backward of broadcasting.
Tensor sum_to(const Tensor& x, const Shape& shape);

// -- linear algebra (core/ops/linalg.cpp) ---------------------------------------------------
/// torch.matmul: 1-d x 1-d is a dot product, 2-d x 2-d a matrix product, and N-d operands
/// are batches of matrices whose batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
/// x·wᵀ + b in one GEMM: x [..., in], w [out, in], b [out] (optional) -> [..., out].
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = {});
/// K linears at once, one per ensemble member: x [B, K, in] (member k reads x[:, k]) or
/// [B, in] (every member reads it), w [K, out, in], b [K, out] (optional) -> [B, K, out], with
/// y[:, k] = x[:, k]·w[k]ᵀ + b[k]. One node for all K members; the member dim comes after the
/// batch dim so that no member's rows are ever copied into place. Throws Error for other
/// shapes.
Tensor batched_linear(const Tensor& x, const Tensor& w, const Tensor& b = {});

// -- loss primitives (core/ops/loss.cpp) ----------------------------------------------------
// The losses fused into one node for speed; the others are composites in nn/loss.h.

/// How a loss reduces its per-element values: None keeps them, Mean and Sum reduce to [].
enum class Reduction { None, Mean, Sum };
/// (input - target)², for input and target of the same shape (else Error, as for an
/// undefined one). Also nn::mse_loss.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

}  // namespace ember
