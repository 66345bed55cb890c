#pragma once
// What a Tensor handle points to. Library code reads it; users normally do not need it.

#include <cstdint>
#include <memory>

#include <ember/core/shape.h>
#include <ember/core/tensor.h>

namespace ember {

/// A float buffer shared by a tensor and its reshapes, with the version counter that
/// in-place updates bump.
struct Storage {
  explicit Storage(int64_t numel);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* values;  // points into `inline_values` or to a block from detail::pool_allocate
  int64_t numel;
  uint64_t version = 0;

 private:
  // Small models make many tiny tensors (scalars, [10, 1] outputs); keeping up to 16 floats
  // inside the Storage saves one heap allocation for each of them.
  static constexpr int64_t kInlineCapacity = 16;
  float inline_values[kInlineCapacity];
};

struct TensorImpl {
  // User-provided, so that make_shared's value-initialisation runs only the member
  // initialisers; an implicit constructor would zero all ~150 bytes first (with `rep stosq`
  // under GCC's generic tuning: 3% of the seed step).
  TensorImpl() {}

  std::shared_ptr<Storage> storage;
  Shape shape;
  Device device = Device::CPU;
  bool requires_grad = false;
  Tensor grad;                    // accumulated gradient (leaves)
  std::shared_ptr<Node> grad_fn;  // producer (non-leaves)
  // Leaves: the node that writes `grad`. It holds the leaf only weakly, so keeping it here
  // forms no cycle and it is reused by every graph the leaf enters.
  std::shared_ptr<Node> grad_accumulator;
};

/// A new tensor of `shape` sharing `source`'s storage (numel must match).
Tensor share_storage(const Tensor& source, const Shape& shape);

namespace detail {
/// Throws Error("<what>: the tensor is undefined").
[[noreturn, gnu::cold]] void throw_undefined(const char* what);

/// Whether nothing but this handle can see t's values: no other handle to its TensorImpl and no
/// other tensor on its storage (a view, or a saved output). Only then may they change in place.
inline bool unshared(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.impl_ptr()->storage.use_count() == 1;
}
}  // namespace detail

// Tensor's accessors, inline: ops call them many times per application, and out of line they
// were ~3% of a small model's training step.
inline const Shape& Tensor::shape() const {
  if (!impl_) [[unlikely]]
    detail::throw_undefined("shape");
  return impl_->shape;
}
inline int64_t Tensor::dim() const { return static_cast<int64_t>(shape().size()); }
inline int64_t Tensor::numel() const {
  if (!impl_) [[unlikely]]
    detail::throw_undefined("numel");
  return impl_->storage->numel;
}
inline float* Tensor::data() const {
  if (!impl_) [[unlikely]]
    detail::throw_undefined("data");
  return impl_->storage->values;
}
inline bool Tensor::requires_grad() const {
  if (!impl_) [[unlikely]]
    detail::throw_undefined("requires_grad");
  return impl_->requires_grad;
}
inline const std::shared_ptr<Node>& Tensor::grad_fn() const {
  if (!impl_) [[unlikely]]
    detail::throw_undefined("grad_fn");
  return impl_->grad_fn;
}

}  // namespace ember
