#include <ember/core/autograd.h>
#include <ember/core/ops.h>
#include <ember/core/tensor_impl.h>
#include <ember/error.h>

#include <algorithm>
#include <cmath>
#include <span>

namespace ember {

namespace {

thread_local bool grad_mode = true;
thread_local bool anomaly_mode = false;

std::string shape_of(const Tensor& t) { return to_string(t.shape()); }

using detail::unshared;

// The sink of a leaf: adds the incoming gradient into the leaf's `.grad()`.
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf) : leaf_(leaf) {}

  Grads apply(const Tensor& grad_output) override {
    const bool sole = unshared(grad_output);
    return add_to_leaf(grad_output, sole);
  }
  // Nothing is saved, so releasing is only taking the incoming handle over.
  Grads apply_and_release(Tensor grad_output) override {
    const bool sole = unshared(grad_output);
    return add_to_leaf(std::move(grad_output), sole);
  }

  std::string name() const override { return "AccumulateGrad"; }

 private:
  // `sole`: nothing but the caller's handle can see grad_output (see unshared).
  Grads add_to_leaf(Tensor grad_output, bool sole) {
    const std::shared_ptr<TensorImpl> leaf = leaf_.lock();
    if (!leaf) return {};  // nobody can read this gradient any more
    Tensor& grad = leaf->grad;
    if (grad.defined()) {
      // Out of place: the old gradient may be shared with a user's handle.
      grad = add(grad, grad_output);
    } else if (grad_enabled() || sole) {
      // The incoming gradient may be the very tensor another leaf receives (add passes its
      // gradient through), and an in-place update of one leaf's grad must not change the
      // other's: keep it only if nothing else can see it, or when building a graph; else copy.
      grad = std::move(grad_output);
    } else {
      grad = clone(grad_output.detach());
    }
    return {};
  }

  std::weak_ptr<TensorImpl> leaf_;  // the leaf owns this node, not the other way round
};

// The node that receives a tensor's gradient: its producer, or its leaf accumulator.
// Recording only reads the accumulator, made when the leaf started requiring grad
// (detail::make_grad_accumulator): several threads may run forwards through one model at
// once, and creating it here, on first use, would race on the leaf's pointer.
std::shared_ptr<Node> gradient_node(const Tensor& t) {
  if (t.grad_fn()) return t.grad_fn();
  if (!t.requires_grad()) return nullptr;
  return t.impl()->grad_accumulator;
}

void check_finite(const Node& node, size_t input, const Tensor& grad) {
  const float* values = grad.data();
  for (int64_t i = 0; i < grad.numel(); ++i) {
    if (!std::isfinite(values[i])) {
      throw Error("anomaly detected: " + node.name() + " returned " +
                  (std::isnan(values[i]) ? "NaN" : "Inf") + " in the gradient for its input " +
                  std::to_string(input) + " (shape " + shape_of(grad) + ", element " +
                  std::to_string(i) + ")");
    }
  }
}

using NodePointers = std::vector<Node*, detail::PoolAllocator<Node*>>;

// The engine's work lists and the destructor's stack start with room for a small model's
// graph: grown from empty, they reallocated ~15 times per training step of the seed model.
constexpr size_t kListsReserved = 32;

// The engine, in three steps: check the roots, count for every node reachable from them how
// many edges point at it, then run nodes in an order where each runs only after every node
// that feeds it a gradient (dependency counting, no recursion).

// What a backward starts from: each output's node, with the gradient it is seeded with.
struct Roots {
  NodeList nodes;
  TensorList grads;
};

// Step 1: checks the outputs and their grad_outputs, and pairs each output's node with its
// seed gradient (ones for a one-element output when none is given).
Roots check_roots(const char* op, std::span<const Tensor> outputs,
                  std::span<const Tensor> grad_outputs) {
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size()) {
    throw Error(std::string(op) + ": got " + std::to_string(grad_outputs.size()) +
                " grad_outputs for " + std::to_string(outputs.size()) + " outputs");
  }
  Roots roots;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    if (!out.defined() || !out.requires_grad()) {
      // A lone output is "the tensor" (t.backward()); among several, it is named by index.
      const std::string which =
          std::string(op) + ": " +
          (outputs.size() == 1 ? "the tensor" : "output " + std::to_string(i));
      if (!out.defined()) throw Error(which + " is undefined");
      throw Error(which + " (shape " + shape_of(out) +
                  ") does not require grad and has no grad_fn; it must be computed from a "
                  "tensor created with requires_grad=true, outside NoGradGuard");
    }
    Tensor seed = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!seed.defined()) {
      if (out.numel() != 1) {
        throw Error(std::string(op) +
                    ": a gradient can be created implicitly only for a "
                    "one-element output, got shape " +
                    shape_of(out) + "; pass grad_output");
      }
      seed = ones(out.shape());
    } else if (seed.shape() != out.shape()) {
      throw Error(std::string(op) + ": grad_output shape " + shape_of(seed) +
                  " does not match output shape " + shape_of(out));
    }
    roots.nodes.push_back(gradient_node(out));
    roots.grads.push_back(seed);
  }
  return roots;
}

// Step 2: finds every node reachable from the roots (an explicit stack, no recursion) and
// counts in `pending` how many edges point at each. Returns the nodes found.
NodePointers count_dependencies(const NodeList& roots) {
  NodePointers graph;
  NodePointers stack;
  graph.reserve(kListsReserved);
  stack.reserve(kListsReserved);
  for (const auto& root : roots) {
    if (!root->seen) {
      root->seen = true;
      stack.push_back(root.get());
    }
  }
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    graph.push_back(node);
    for (const auto& child : node->next) {
      if (!child) continue;
      ++child->pending;
      if (!child->seen) {
        child->seen = true;
        stack.push_back(child.get());
      }
    }
  }
  return graph;
}

// Engine scratch lives in the nodes; this clears it however the backward ends.
struct ScratchCleanup {
  const NodePointers& graph;
  ~ScratchCleanup() {
    for (Node* node : graph) {
      node->seen = false;
      node->pending = 0;
      node->buffer = Tensor();
    }
  }
};

// buffer += grad, a node's later gradients summed as they arrive (a tensor used by several
// ops). In place when nothing else can see the buffer (it may be the very gradient another node
// received: add passes its gradient to both inputs) and no graph of the backward is being
// built. Otherwise, and if the shapes differ, a new tensor. (The callers keep the first
// gradient themselves: with that branch in here, the seed step ran 0.5% more instructions.)
void accumulate(Tensor& buffer, const Tensor& grad) {
  if (unshared(buffer) && !grad_enabled() && buffer.shape() == grad.shape()) {
    buffer.add_(grad);
  } else {
    buffer = add(buffer, grad);
  }
}

// Step 3: runs each node once all its gradients have arrived (pending == 0), passing what it
// returns on to its inputs' nodes. Returns the gradients that reached `targets` (grad());
// with no targets, leaves accumulate into `.grad()` instead (backward()).
std::vector<Tensor> run_ready_queue(const Roots& roots, const NodePointers& targets,
                                    bool retain_graph) {
  const bool accumulate_leaves = targets.empty();
  std::vector<Tensor> captured(targets.size());
  for (size_t i = 0; i < roots.nodes.size(); ++i) {
    Tensor& buffer = roots.nodes[i]->buffer;
    if (buffer.defined()) {
      accumulate(buffer, roots.grads[i]);
    } else {
      buffer = roots.grads[i];
    }
  }
  NodePointers ready;
  ready.reserve(kListsReserved);
  for (const auto& root : roots.nodes) {
    if (root->pending == 0 && std::find(ready.begin(), ready.end(), root.get()) == ready.end()) {
      ready.push_back(root.get());
    }
  }
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    Tensor grad_output = std::move(node->buffer);
    node->buffer = Tensor();
    for (size_t t = 0; t < targets.size(); ++t) {
      if (targets[t] == node) captured[t] = grad_output;
    }
    Grads grads;
    // A leaf's accumulator runs only in backward(); grad() captures at targets instead.
    const bool skip =
        !accumulate_leaves && node->next.empty() && dynamic_cast<AccumulateGrad*>(node) != nullptr;
    if (grad_output.defined() && !skip) {
      grads =
          retain_graph ? node->apply(grad_output) : node->apply_and_release(std::move(grad_output));
    }
    for (size_t i = 0; i < node->next.size(); ++i) {
      Node* child = node->next[i].get();
      if (!child) continue;
      if (i < grads.size() && grads[i].defined()) {
        if (anomaly_enabled()) check_finite(*node, i, grads[i]);
        // Moved, not copied: each copy of a handle is an atomic increment and decrement once
        // the program has started a second thread (OpenBLAS's at load, say).
        if (child->buffer.defined()) {
          accumulate(child->buffer, grads[i]);
        } else {
          child->buffer = std::move(grads[i]);
        }
      }
      if (--child->pending == 0) ready.push_back(child);
    }
  }
  return captured;
}

// The engine, in the three steps above; `targets` as for run_ready_queue.
std::vector<Tensor> run_backward(const char* op, std::span<const Tensor> outputs,
                                 std::span<const Tensor> grad_outputs, bool retain_graph,
                                 bool create_graph, const NodePointers& targets) {
  const Roots roots = check_roots(op, outputs, grad_outputs);
  const NodePointers graph = count_dependencies(roots.nodes);
  const ScratchCleanup cleanup{graph};
  const GradModeGuard grad_mode_guard(create_graph);
  return run_ready_queue(roots, targets, retain_graph);
}

}  // namespace

// -- saved tensors ---------------------------------------------------------------------------

SavedTensor SavedTensor::input(const Tensor& t) {
  SavedTensor saved;
  saved.tensor_ = t;
  if (t.defined()) saved.version_ = t.version();
  return saved;
}

SavedTensor SavedTensor::output(const Tensor& t, std::weak_ptr<Node> owner) {
  SavedTensor saved;
  saved.tensor_ = t.detach();
  saved.version_ = t.version();
  saved.is_output_ = true;
  saved.producer_ = std::move(owner);
  return saved;
}

void SavedTensor::check_version(const Node& owner) const {
  if (tensor_.version() != version_) {
    throw Error(owner.name() + ": a tensor of shape " + shape_of(tensor_) +
                " saved for the backward was modified by an in-place operation (version " +
                std::to_string(version_) + " when saved, " + std::to_string(tensor_.version()) +
                " now)");
  }
}

Tensor SavedTensor::take(const Node& owner) {
  if (!tensor_.defined() || (is_output_ && grad_enabled())) return unpack(owner);
  check_version(owner);
  return std::move(tensor_);
}

Tensor SavedTensor::unpack(const Node& owner) const {
  if (!tensor_.defined()) return tensor_;
  check_version(owner);
  if (is_output_ && grad_enabled()) {
    // Building a graph of the backward (create_graph): the output must lead back to its node
    // so that second derivatives flow through it. The link lives only as long as this call.
    Tensor linked = share_storage(tensor_, tensor_.shape());
    linked.impl()->grad_fn = producer_.lock();
    linked.impl()->requires_grad = true;
    return linked;
  }
  return tensor_;
}

void SavedTensor::hand_over_producer(NodeList& out) {
  if (tensor_.defined() && tensor_.impl_ptr().use_count() == 1 && tensor_.impl()->grad_fn) {
    out.push_back(std::move(tensor_.impl()->grad_fn));
  }
  tensor_ = Tensor();
}

// -- nodes -----------------------------------------------------------------------------------

Node::~Node() = default;

Grads Node::apply_and_release(Tensor grad_output) {
  Grads grads = apply(grad_output);
  release_saved();
  return grads;
}

void Node::hand_over_owned_nodes(NodeList& out) {
  for (auto& child : next) {
    if (child) out.push_back(std::move(child));
  }
  next.clear();
}

// -- function nodes ----------------------------------------------------------------------------

namespace detail {

// Destroying the last node of a long chain would otherwise destroy its inputs' nodes
// recursively (one stack frame per op). Instead, owned nodes are moved to an explicit stack
// and each is emptied before it dies.
FunctionNode::~FunctionNode() {
  NodeList stack;
  hand_over_owned_nodes(stack);
  if (!stack.empty()) stack.reserve(kListsReserved);
  while (!stack.empty()) {
    std::shared_ptr<Node> node = std::move(stack.back());
    stack.pop_back();
    if (node.use_count() == 1) node->hand_over_owned_nodes(stack);
  }
}

Grads FunctionNode::apply(const Tensor& grad_output) { return run(grad_output, false); }

// The last run moves the saved tensors rather than copying them: each copy would cost an atomic
// increment, and its release an atomic decrement, once the program has a second thread.
Grads FunctionNode::apply_and_release(Tensor grad_output) { return run(grad_output, true); }

Grads FunctionNode::run(const Tensor& grad_output, bool release) {
  if (released_) {
    throw Error(name_ + std::string(": its saved tensors were freed by an earlier backward; "
                                    "call backward with retain_graph=true to backpropagate "
                                    "through the same graph a second time"));
  }
  BackwardContext ctx;
  ctx.saved.reserve(saved.size());
  for (SavedTensor& s : saved) ctx.saved.push_back(release ? s.take(*this) : s.unpack(*this));
  if (has_output) ctx.output = release ? output.take(*this) : output.unpack(*this);
  ctx.edges = &next;
  if (release) release_saved();
  return backward(grad_output, ctx);
}

void FunctionNode::release_saved() {
  // A node that saved nothing can run again, as in PyTorch.
  released_ = released_ || has_output || !saved.empty();
  saved.clear();
  output.release();
}

void FunctionNode::hand_over_owned_nodes(NodeList& out) {
  Node::hand_over_owned_nodes(out);
  // A saved input that nobody else holds would take its producer down with it.
  for (SavedTensor& s : saved) s.hand_over_producer(out);
  saved.clear();
}

std::shared_ptr<Node> make_grad_accumulator(const std::shared_ptr<TensorImpl>& leaf) {
  return std::make_shared<AccumulateGrad>(leaf);
}

bool should_record(TensorRefs inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& input : inputs) {
    if (input.defined() && input.requires_grad()) return true;
  }
  return false;
}

Tensor attach(std::shared_ptr<FunctionNode> node, Tensor output, TensorRefs inputs,
              TensorRefs saved, bool save_output) {
  node->next.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    node->next.push_back(input.defined() ? gradient_node(input) : nullptr);
  }
  node->saved.reserve(saved.size());
  for (const Tensor& tensor : saved) node->saved.push_back(SavedTensor::input(tensor));
  if (save_output) {
    node->output = SavedTensor::output(output, node);
    node->has_output = true;
  }
  output.impl()->grad_fn = std::move(node);
  output.impl()->requires_grad = true;
  return output;
}

}  // namespace detail

// -- entry points ----------------------------------------------------------------------------

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph,
                         bool create_graph, bool allow_unused) {
  if (inputs.empty()) throw Error("grad: no inputs given");
  NodePointers targets;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad()) {
      throw Error("grad: input " + std::to_string(i) + " does not require grad");
    }
    targets.push_back(gradient_node(inputs[i]).get());
  }
  std::vector<Tensor> captured = run_backward("grad", outputs, grad_outputs,
                                              retain_graph || create_graph, create_graph, targets);
  for (size_t i = 0; i < captured.size(); ++i) {
    if (!captured[i].defined() && !allow_unused) {
      throw Error("grad: input " + std::to_string(i) + " (shape " + shape_of(inputs[i]) +
                  ") was not used to compute the outputs; pass allow_unused=true to get an "
                  "undefined gradient for it");
    }
  }
  return captured;
}

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
              bool retain_graph, bool create_graph) {
  run_backward("backward", outputs, grad_outputs, retain_graph || create_graph, create_graph, {});
}

void detail::backward_one(const Tensor& output, const Tensor& grad_output, bool retain_graph,
                          bool create_graph) {
  const std::span<const Tensor> seeds(&grad_output, grad_output.defined() ? 1 : 0);
  run_backward("backward", {&output, 1}, seeds, retain_graph || create_graph, create_graph, {});
}

bool grad_enabled() { return grad_mode; }
void set_grad_enabled(bool enabled) { grad_mode = enabled; }
bool anomaly_enabled() { return anomaly_mode; }
DetectAnomalyGuard::DetectAnomalyGuard() : previous_(anomaly_mode) { anomaly_mode = true; }
DetectAnomalyGuard::~DetectAnomalyGuard() { anomaly_mode = previous_; }

}  // namespace ember
