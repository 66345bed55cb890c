#pragma once
// Tensor: a cheap, shared handle to a float32, N-dimensional, contiguous row-major array
// that can record the operations applied to it for reverse-mode autograd.
//
// Layout rule: every tensor is contiguous and starts at offset 0 of its storage. `reshape`
// shares storage (same bytes, new shape); every other layout change (transpose, permute,
// narrow, expand, ...) copies. That keeps every kernel a plain loop or a GEMM call.

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <ember/core/shape.h>

namespace ember {

class Node;
struct TensorImpl;

/// Where a tensor's bytes live. Ops on tensors of different devices throw Error.
enum class Device { CPU, CUDA };

/// A handle: copying a Tensor shares the same data and autograd state (like PyTorch).
/// A default-constructed Tensor is undefined (`defined() == false`).
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl);

  bool defined() const { return impl_ != nullptr; }

  // -- inspection ------------------------------------------------------------------------
  const Shape& shape() const;
  int64_t dim() const;
  int64_t numel() const;
  /// Size of dimension `d`; negative `d` counts from the end. Throws on a bad index.
  int64_t size(int64_t d) const;
  Device device() const;
  /// Pointer to the first of `numel()` contiguous floats. Writing through it bypasses the
  /// version counter; use the in-place methods below when autograd may have saved it.
  float* data() const;
  std::vector<float> to_vector() const;
  /// The value of a one-element tensor. Throws Error otherwise.
  float item() const;
  /// PyTorch-like text, e.g. "tensor([2., 4.], grad_fn=<MulBackward0>)": same number format
  /// and summarisation above 1000 elements, but no wrapping at 80 columns.
  std::string to_string() const;

  // -- autograd --------------------------------------------------------------------------
  bool requires_grad() const;
  /// Marks a leaf as requiring grad (or not). Throws on a non-leaf.
  Tensor& requires_grad_(bool requires_grad = true);
  /// Accumulated gradient of a leaf (undefined until a backward reaches it).
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  /// The node that produced this tensor, or null for leaves and constants.
  const std::shared_ptr<Node>& grad_fn() const;
  bool is_leaf() const;
  /// Same data, no history: the result never requires grad.
  Tensor detach() const;
  /// Backpropagates from this tensor into every leaf's `.grad()`. A non-scalar output needs
  /// `grad_output` of its shape. Saved tensors are freed unless `retain_graph`;
  /// `create_graph` records the backward itself so it can be differentiated again.
  void backward(const Tensor& grad_output = {}, bool retain_graph = false,
                bool create_graph = false) const;

  // -- in-place updates (for optimizers; they bump the version counter) ------------------
  // They are not recorded by autograd: they throw if grad mode is on and the tensor
  // requires grad.
  /// Version of the underlying storage: bumped by every in-place update.
  uint64_t version() const;
  Tensor& zero_();
  Tensor& fill_(float value);
  /// Copies `source` (same shape) into this tensor.
  Tensor& copy_(const Tensor& source);
  /// this += alpha * other (other broadcast to this shape).
  Tensor& add_(const Tensor& other, float alpha = 1.f);
  Tensor& mul_(float factor);
  /// For a hand-written in-place loop (an optimizer's update): checks the write is allowed,
  /// bumps the version once, and returns the data to overwrite.
  float* mutable_data();

  // -- ops as methods (each is the free function of the same name in core/ops.h) ---------
  Tensor operator-() const;
  Tensor pow(const Tensor& exponent) const;
  Tensor pow(float exponent) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor relu() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor erf() const;
  Tensor gelu(bool tanh_approximation = false) const;
  Tensor softplus(float beta = 1.f, float threshold = 20.f) const;
  Tensor clamp(float min, float max) const;
  Tensor sum() const;
  Tensor sum(const Dims& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const Dims& dims, bool keepdim = false) const;
  Tensor var(bool unbiased = true) const;
  Tensor var(const Dims& dims, bool unbiased = true, bool keepdim = false) const;
  Tensor std(bool unbiased = true) const;
  Tensor std(const Dims& dims, bool unbiased = true, bool keepdim = false) const;
  Tensor logsumexp(int64_t dim, bool keepdim = false) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor reshape(const Shape& shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor permute(const Dims& dims) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor index_select(int64_t dim, const Tensor& index) const;
  Tensor expand(const Shape& shape) const;
  Tensor matmul(const Tensor& other) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// -- creation ------------------------------------------------------------------------------

/// A tensor holding `values` in row-major order. Throws if `values.size()` != numel(shape).
Tensor tensor(const std::vector<float>& values, const Shape& shape, bool requires_grad = false);
/// A 1-d tensor holding `values`: tensor({1.f, 2.f}) or tensor({1.f, 2.f}, true).
Tensor tensor(std::initializer_list<float> values);
// A template so that only a real bool matches: with a plain `bool` parameter,
// tensor({1.f}, {1}) would pick this overload and read the shape {1} as requires_grad.
template <std::same_as<bool> Bool>
Tensor tensor(std::initializer_list<float> values, Bool requires_grad) {
  return tensor(std::vector<float>(values), Shape{static_cast<int64_t>(values.size())},
                requires_grad);
}
/// A 0-d tensor holding one value.
Tensor scalar_tensor(float value, bool requires_grad = false);
Tensor zeros(const Shape& shape, bool requires_grad = false);
Tensor ones(const Shape& shape, bool requires_grad = false);
Tensor full(const Shape& shape, float value, bool requires_grad = false);
Tensor zeros_like(const Tensor& t, bool requires_grad = false);
Tensor ones_like(const Tensor& t, bool requires_grad = false);
/// [start, start + step, ...) up to but excluding `end`, like torch.arange.
Tensor arange(float start, float end, float step = 1.f);
Tensor arange(float end);
/// n x n identity.
Tensor eye(int64_t n);
/// A tensor with uninitialised contents (for ops that overwrite every element).
Tensor empty(Shape shape);

// -- memory accounting (for tests and benchmarks) --------------------------------------------
/// Number of tensor storages alive now, and their total size in bytes.
int64_t live_storage_count();
int64_t live_storage_bytes();

}  // namespace ember

// The accessors above are inline (they need TensorImpl): see tensor_impl.h.
#include <ember/core/tensor_impl.h>
