#pragma once
// Reverse-mode autograd: graph nodes, saved tensors, grad mode and the backward engine.
//
// Every differentiable op's result holds a `grad_fn` node. A node holds one edge per input
// (the input's own node, or null if that input needs no gradient) and the tensors its
// backward needs. Ownership only points from outputs to inputs, so the graph has no cycles:
// when a node must remember its own output (exp, tanh, softmax, ...) it saves the output's
// *data*, detached, and rebuilds the link to itself only while its backward runs.
//
// This header holds the concepts; core/autograd_detail.h (included at the end) holds the
// machinery that makes recording cheap.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <ember/core/allocator.h>
#include <ember/core/small_vector.h>
#include <ember/core/tensor.h>

namespace ember {

/// A short list of tensors (a backward's gradients). The graph makes and drops a few per op, so
/// they come from the per-thread pool (see allocator.h).
using TensorList = std::vector<Tensor, detail::PoolAllocator<Tensor>>;
/// What a backward returns: one gradient per input, undefined where the input needs none.
/// `Grads{ga, gb}` moves the gradients in; a std::initializer_list (what braces make of a
/// plain vector) would copy each, two atomic reference-count updates per gradient.
struct Grads : TensorList {
  Grads() = default;
  template <class... Gradients>
  requires(sizeof...(Gradients) > 0 && (std::is_convertible_v<Gradients, Tensor> && ...))
      Grads(Gradients&&... gradients) {
    reserve(sizeof...(Gradients));
    (emplace_back(std::forward<Gradients>(gradients)), ...);
  }
  template <std::input_iterator It>
  Grads(It first, It last) : TensorList(first, last) {}
};
/// The engine's work lists of nodes.
using NodeList = std::vector<std::shared_ptr<Node>, detail::PoolAllocator<std::shared_ptr<Node>>>;
/// A node's edges to its inputs' nodes: up to three (a linear layer's x, W and b) inside the
/// node itself.
using Edges = detail::SmallVector<std::shared_ptr<Node>, 3>;

/// A node of the autograd graph: the backward of one op application.
class Node {
 public:
  virtual ~Node();
  /// Given d(loss)/d(output), returns d(loss)/d(input) for each input (undefined where the
  /// input needs no gradient).
  virtual Grads apply(const Tensor& grad_output) = 0;
  /// PyTorch's name for the node, e.g. "MulBackward0".
  virtual std::string name() const = 0;
  /// Frees saved tensors after a backward without retain_graph.
  virtual void release_saved() {}
  /// apply, then release_saved: how a backward without retain_graph runs a node, handing over
  /// its incoming gradient. A node may move its saved tensors to its backward function, and
  /// the gradient where it keeps it, instead of copying them.
  virtual Grads apply_and_release(Tensor grad_output);

  /// Moves every node this one owns (edges, producers of saved tensors) into `out`, so a
  /// destructor can free a long chain with an explicit stack instead of recursion.
  virtual void hand_over_owned_nodes(NodeList& out);

  /// The edges: one per input, the input's node, or null if it needs no gradient.
  Edges next;

  // Scratch space of the engine during one backward (reset when it ends).
  bool seen = false;  // reached while discovering the graph
  int pending = 0;    // gradients still to arrive from nodes not yet run
  Tensor buffer;      // sum of the gradients arrived so far
};

/// A tensor a node keeps for its backward, with the storage version seen when it was saved.
/// Unpacking checks that version, so an in-place change since then throws instead of
/// silently producing a wrong gradient.
class SavedTensor {
 public:
  SavedTensor() = default;
  /// Saves an input of the op as it is (its graph stays reachable for create_graph).
  static SavedTensor input(const Tensor& t);
  /// Saves the op's own output, detached, to avoid a node -> output -> node cycle; `owner`,
  /// the op's node, is kept weakly for re-linking the output to it (see unpack).
  static SavedTensor output(const Tensor& t, std::weak_ptr<Node> owner);

  /// The saved tensor; for a saved output, re-linked to its node when grad mode is on.
  /// `owner` (the node that saved it) names the node in errors.
  Tensor unpack(const Node& owner) const;
  /// Same, for the last use: the tensor is moved out, leaving this empty.
  Tensor take(const Node& owner);
  void release() { tensor_ = Tensor(); }
  /// Drops the tensor; if this was its last handle, first moves its producer node to `out`
  /// (see Node::hand_over_owned_nodes).
  void hand_over_producer(NodeList& out);

 private:
  void check_version(const Node& owner) const;
  Tensor tensor_;
  uint64_t version_ = 0;
  bool is_output_ = false;
  std::weak_ptr<Node> producer_;  // a saved output's node (which owns this SavedTensor)
};

/// What an op's backward function receives besides the output gradient.
struct BackwardContext {
  detail::SmallVector<Tensor, 2> saved;  // the tensors passed to `record`, in order
  Tensor output;                         // the op's output, if `record` was asked to save it
  const Edges* edges = nullptr;

  /// Whether input `i` wants a gradient (its edge leads somewhere).
  bool needs_grad(size_t i) const { return (*edges)[i] != nullptr; }
};

/// Attaches a node named `name` to `output` when grad mode is on and some input requires
/// grad; otherwise returns `output` untouched. `saved` are kept for the backward, and the
/// output too when `save_output`. Pass the output moved (`std::move(out)`): it is returned.
///
/// `backward(grad_output, ctx)` returns one gradient per input (as Grads or a
/// std::vector<Tensor>). It must capture no Tensor (save tensors through `saved` instead),
/// so no node can own its own output.
template <class Backward>
Tensor record(const char* name, Tensor output,
              std::initializer_list<std::reference_wrapper<const Tensor>> inputs,
              std::initializer_list<std::reference_wrapper<const Tensor>> saved,
              Backward&& backward, bool save_output = false);

/// Same, for ops with a variable number of inputs (cat, stack).
template <class Backward>
Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs,
              const std::vector<Tensor>& saved, Backward&& backward, bool save_output = false);

/// Functional form of backward: d(outputs)/d(inputs), weighted by `grad_outputs` (ones for
/// scalar outputs when omitted). Leaves' `.grad()` is untouched. An input the outputs do
/// not depend on throws unless `allow_unused`, in which case its gradient is undefined.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool create_graph = false, bool allow_unused = false);

/// Backpropagates from several outputs at once into the leaves' `.grad()`.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false);

/// Whether ops record graph nodes on this thread (true by default).
bool grad_enabled();
void set_grad_enabled(bool enabled);

/// Sets grad mode on this thread for its lifetime, then restores the previous mode
/// (like torch.set_grad_enabled as a context manager).
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(grad_enabled()) { set_grad_enabled(enabled); }
  ~GradModeGuard() { set_grad_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

/// Disables graph recording on this thread for its lifetime (like torch.no_grad()).
class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

/// Whether anomaly detection is on for this thread (off by default).
bool anomaly_enabled();

/// While alive, every backward checks each gradient it produces and throws Error at the
/// first NaN or Inf, naming the node that produced it (like torch.autograd.detect_anomaly).
class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard();
  ~DetectAnomalyGuard();
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace ember

#include <ember/core/autograd_detail.h>
