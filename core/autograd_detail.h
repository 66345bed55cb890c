#pragma once
// How `record` builds a node cheaply. Included at the end of autograd.h; nothing here is
// needed to read or write an op.
//
// Recording runs once per op application, so on a small model it is most of the cost of a
// training step: the node is one pool allocation holding the backward lambda itself, and
// the tensors given to `record` are passed by reference all the way to the node.

#include <span>
#include <type_traits>

#include <ember/core/autograd.h>

namespace ember::detail {

/// The node of one op application: its name, the tensors it saved and, in the subclass
/// `record` creates, its backward function.
class FunctionNode : public Node {
 public:
  explicit FunctionNode(const char* name) : name_(name) {}
  /// Frees the graph behind this node with an explicit stack (see hand_over_owned_nodes).
  ~FunctionNode() override;
  Grads apply(const Tensor& grad_output) final;
  Grads apply_and_release(Tensor grad_output) final;
  std::string name() const final { return name_; }
  void release_saved() final;
  void hand_over_owned_nodes(NodeList& out) final;

  SmallVector<SavedTensor, 2> saved;  // most ops save at most two inputs
  SavedTensor output;
  bool has_output = false;

 protected:
  virtual Grads backward(const Tensor& grad_output, const BackwardContext& ctx) = 0;

 private:
  // Both applies: `release` moves the saved tensors into the context and releases them first.
  Grads run(const Tensor& grad_output, bool release);

  const char* name_;
  bool released_ = false;
};

// The backward lambda is stored inside the node itself (no std::function, so no extra heap
// allocation per recorded op).
template <class Backward>
class LambdaNode final : public FunctionNode {
 public:
  template <class B>
  LambdaNode(const char* name, B&& backward)
      : FunctionNode(name), backward_(std::forward<B>(backward)) {}

 private:
  Grads backward(const Tensor& grad_output, const BackwardContext& ctx) override {
    auto grads = backward_(grad_output, ctx);
    if constexpr (std::is_same_v<decltype(grads), Grads>) {
      return grads;
    } else {
      return Grads(grads.begin(), grads.end());  // e.g. a std::vector<Tensor>
    }
  }
  Backward backward_;
};

/// The node that adds a leaf's incoming gradients into its `.grad()`. Tensor::requires_grad_
/// makes it once, when the leaf starts requiring grad, so that recording only ever reads it.
std::shared_ptr<Node> make_grad_accumulator(const std::shared_ptr<TensorImpl>& leaf);

// The tensors given to `record`, by reference: copying them into a list first would cost two
// reference-count updates each even when nothing is recorded.
using TensorRefs = std::span<const std::reference_wrapper<const Tensor>>;
bool should_record(TensorRefs inputs);
Tensor attach(std::shared_ptr<FunctionNode> node, Tensor output, TensorRefs inputs,
              TensorRefs saved, bool save_output);

/// Tensor::backward: backward() from one output, seeded with `grad_output` unless it is
/// undefined, without the two vectors (a heap allocation per training step) that the
/// public form takes.
void backward_one(const Tensor& output, const Tensor& grad_output, bool retain_graph,
                  bool create_graph);

// Both `record`s: a node holding `backward`, attached when some input needs a gradient. The
// lambda travels by reference and is moved once, into the node, and not at all when nothing is
// recorded (by value, each step moved it again: every Shape it captured, copied element by
// element).
template <class Backward>
Tensor record_node(const char* name, Tensor output, TensorRefs inputs, TensorRefs saved,
                   Backward&& backward, bool save_output) {
  if (!should_record(inputs)) return output;
  return attach(std::allocate_shared<LambdaNode<std::decay_t<Backward>>>(
                    PoolAllocator<char>(), name, std::forward<Backward>(backward)),
                std::move(output), inputs, saved, save_output);
}

}  // namespace ember::detail

namespace ember {

template <class Backward>
Tensor record(const char* name, Tensor output,
              std::initializer_list<std::reference_wrapper<const Tensor>> inputs,
              std::initializer_list<std::reference_wrapper<const Tensor>> saved,
              Backward&& backward, bool save_output) {
  return detail::record_node(name, std::move(output), inputs, saved,
                             std::forward<Backward>(backward), save_output);
}

template <class Backward>
Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs,
              const std::vector<Tensor>& saved, Backward&& backward, bool save_output) {
  using Refs = std::vector<std::reference_wrapper<const Tensor>,
                           detail::PoolAllocator<std::reference_wrapper<const Tensor>>>;
  const Refs input_refs(inputs.begin(), inputs.end()), saved_refs(saved.begin(), saved.end());
  return detail::record_node(name, std::move(output), input_refs, saved_refs,
                             std::forward<Backward>(backward), save_output);
}

}  // namespace ember
