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

  std::unique_ptr<float[]> values;
  int64_t numel;
  uint64_t version = 0;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Device device = Device::CPU;
  bool requires_grad = false;
  Tensor grad;                           // accumulated gradient (leaves)
  std::shared_ptr<Node> grad_fn;         // producer (non-leaves)
  std::weak_ptr<Node> grad_accumulator;  // leaves: the node that writes `grad`
};

/// A new tensor of `shape` sharing `source`'s storage (numel must match).
Tensor share_storage(const Tensor& source, const Shape& shape);

}  // namespace ember
