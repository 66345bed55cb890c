#include <ember/core/allocator.h>
#include <ember/core/autograd.h>
#include <ember/core/ops.h>
#include <ember/core/tensor.h>
#include <ember/core/tensor_impl.h>
#include <ember/error.h>
#include <ember/kernels/cpu/elementwise.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <ostream>
#include <vector>

namespace ember {

namespace {

// Live storages are counted per thread: making or freeing one adds to the calling thread's own
// counters with a plain load and store, where one pair of counters for every thread needed a
// locked read-modify-write on a cache line they all share each time (4 per storage: 5% of the
// seed step). live_storage_count() and live_storage_bytes() sum every thread's counters and
// what exited threads left behind. Only the owner writes its counters; they are atomics so
// that a reader on another thread may load them.
struct Counters {
  std::atomic<int64_t> count{0}, bytes{0};
};

struct CounterRegistry {
  std::mutex mutex;
  std::vector<const Counters*> threads;  // every running thread's that has counted a storage
  Counters retired;  // exited threads' totals, and changes made after a thread's counters died
};

// Never destroyed: a thread may exit, or free a tensor, after static destructors have run.
CounterRegistry& counter_registry() {
  static CounterRegistry& registry = *new CounterRegistry;
  return registry;
}

// This thread's counters: plain thread-local data (constant-initialised, so reached without a
// guard), counted into once `listed`; ThreadCounters lists them on the thread's first storage.
struct OwnCounters {
  Counters counters;
  bool listed = false;
};
thread_local constinit OwnCounters own_counters;

// Lists this thread's counters while the thread lives; at its exit the totals move to
// `retired` (under the lock, so a concurrent sum sees them in exactly one place).
class ThreadCounters {
 public:
  ThreadCounters() {
    CounterRegistry& registry = counter_registry();
    const std::lock_guard lock(registry.mutex);
    registry.threads.push_back(&own_counters.counters);
    own_counters.listed = true;
  }
  ~ThreadCounters() {
    CounterRegistry& registry = counter_registry();
    const std::lock_guard lock(registry.mutex);
    Counters& own = own_counters.counters;
    registry.retired.count.fetch_add(own.count.exchange(0, std::memory_order_relaxed));
    registry.retired.bytes.fetch_add(own.bytes.exchange(0, std::memory_order_relaxed));
    std::erase(registry.threads, &own);
    own_counters.listed = false;
    destroyed = true;
  }

  // Set once this thread's counters are gone (trivially destructible, so always readable).
  static thread_local bool destroyed;
};
thread_local bool ThreadCounters::destroyed = false;

// The first count of a thread lists its counters; one after they are gone (a storage freed
// late in the thread's exit, a static, say) goes to the shared totals.
[[gnu::noinline]] void count_storages_unlisted(int64_t count, int64_t bytes) {
  if (ThreadCounters::destroyed) {
    Counters& retired = counter_registry().retired;
    retired.count.fetch_add(count, std::memory_order_relaxed);
    retired.bytes.fetch_add(bytes, std::memory_order_relaxed);
    return;
  }
  thread_local ThreadCounters lister;
  Counters& own = own_counters.counters;
  own.count.fetch_add(count, std::memory_order_relaxed);
  own.bytes.fetch_add(bytes, std::memory_order_relaxed);
}

void count_storages(int64_t count, int64_t bytes) {
  if (!own_counters.listed) [[unlikely]] {
    count_storages_unlisted(count, bytes);
    return;
  }
  Counters& own = own_counters.counters;
  own.count.store(own.count.load(std::memory_order_relaxed) + count, std::memory_order_relaxed);
  own.bytes.store(own.bytes.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
}

// Σ over every thread's counters and the retired ones.
int64_t live_total(std::atomic<int64_t> Counters::*field) {
  CounterRegistry& registry = counter_registry();
  const std::lock_guard lock(registry.mutex);
  int64_t total = (registry.retired.*field).load();
  for (const Counters* counters : registry.threads) total += (counters->*field).load();
  return total;
}

TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl, const char* what) {
  if (!impl) detail::throw_undefined(what);
  return *impl;
}

// The one gate of every in-place write: refuses to change a tensor autograd may be tracking,
// bumps the version once (so saved copies of it are known stale), and returns the data.
float* begin_in_place_write(const Tensor& t, const char* op) {
  if (grad_enabled() && t.requires_grad()) {
    throw Error(std::string(op) +
                ": in-place update of a tensor that requires grad while grad mode is on; "
                "wrap it in NoGradGuard (as optimizers do)");
  }
  ++t.impl()->storage->version;
  return t.data();
}
}  // namespace

Storage::Storage(int64_t n) : numel(n) {
  values = n > kInlineCapacity
               ? static_cast<float*>(detail::pool_allocate(size_t(n) * sizeof(float)))
               : inline_values;
  count_storages(1, n * int64_t(sizeof(float)));
}

Storage::~Storage() {
  if (values != inline_values) detail::pool_deallocate(values, size_t(numel) * sizeof(float));
  count_storages(-1, -numel * int64_t(sizeof(float)));
}

namespace detail {
void throw_undefined(const char* what) {
  throw Error(std::string(what) + ": the tensor is undefined");
}
}  // namespace detail

int64_t live_storage_count() { return live_total(&Counters::count); }
int64_t live_storage_bytes() { return live_total(&Counters::bytes); }

Tensor::Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

int64_t Tensor::size(int64_t d) const {
  if (dim() == 0)
    throw Error("size: a 0-d tensor has no dimensions (asked for dim " + std::to_string(d) + ")");
  return shape()[normalize_dim(d, dim(), "size")];
}
Device Tensor::device() const { return checked(impl_, "device").device; }

std::vector<float> Tensor::to_vector() const { return {data(), data() + numel()}; }

float Tensor::item() const {
  if (numel() != 1) {
    throw Error("item: only a one-element tensor converts to a float, got shape " +
                ember::to_string(shape()));
  }
  return data()[0];
}

Tensor& Tensor::requires_grad_(bool requires_grad) {
  TensorImpl& impl = checked(impl_, "requires_grad_");
  if (impl.grad_fn && !requires_grad) {
    throw Error("requires_grad_: cannot clear requires_grad on a non-leaf tensor (grad_fn=" +
                impl.grad_fn->name() + "); use detach()");
  }
  impl.requires_grad = requires_grad || impl.grad_fn != nullptr;
  if (impl.requires_grad && !impl.grad_fn && !impl.grad_accumulator) {
    impl.grad_accumulator = detail::make_grad_accumulator(impl_);
  }
  return *this;
}

Tensor Tensor::grad() const { return checked(impl_, "grad").grad; }

void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined() && grad.shape() != shape()) {
    throw Error("set_grad: gradient shape " + ember::to_string(grad.shape()) +
                " does not match tensor shape " + ember::to_string(shape()));
  }
  checked(impl_, "set_grad").grad = grad;
}

bool Tensor::is_leaf() const { return grad_fn() == nullptr; }

Tensor share_storage(const Tensor& source, const Shape& shape) {
  auto impl = std::allocate_shared<TensorImpl>(detail::PoolAllocator<TensorImpl>());
  impl->storage = source.impl()->storage;
  impl->shape = shape;
  impl->device = source.device();
  return Tensor(std::move(impl));
}

Tensor Tensor::detach() const { return share_storage(*this, shape()); }

void Tensor::backward(const Tensor& grad_output, bool retain_graph, bool create_graph) const {
  detail::backward_one(*this, grad_output, retain_graph, create_graph);
}

uint64_t Tensor::version() const { return checked(impl_, "version").storage->version; }

Tensor& Tensor::zero_() { return fill_(0.f); }

float* Tensor::mutable_data() { return begin_in_place_write(*this, "mutable_data"); }

Tensor& Tensor::fill_(float value) {
  std::fill_n(begin_in_place_write(*this, "fill_"), numel(), value);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& source) {
  if (source.shape() != shape()) {
    throw Error("copy_: source shape " + ember::to_string(source.shape()) +
                " does not match destination shape " + ember::to_string(shape()));
  }
  std::copy_n(source.data(), numel(), begin_in_place_write(*this, "copy_"));
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, float alpha) {
  if (broadcast_shape(shape(), other.shape(), "add_") != shape()) {
    throw Error("add_: cannot broadcast " + ember::to_string(other.shape()) +
                " into the destination shape " + ember::to_string(shape()));
  }
  const Tensor addend = other.shape() == shape() ? other : ember::expand(other.detach(), shape());
  const float* in = addend.data();
  float* out = begin_in_place_write(*this, "add_");
  // Through the kernels, at the CPU's level: a loop here is compiled for baseline x86-64 (four
  // floats a step), and the engine sums a gradient used by several ops with add_.
  kernels::cpu::zip(out, in, out, numel(), [alpha](float o, float i) { return o + alpha * i; });
  return *this;
}

Tensor& Tensor::mul_(float factor) {
  float* out = begin_in_place_write(*this, "mul_");
  kernels::cpu::map(out, out, numel(), [factor](float o) { return o * factor; });
  return *this;
}

// -- creation ------------------------------------------------------------------------------

Tensor empty(Shape shape) {
  for (int64_t size : shape) {
    if (size < 0) throw Error("empty: negative size in shape " + to_string(shape));
  }
  auto impl = std::allocate_shared<TensorImpl>(detail::PoolAllocator<TensorImpl>());
  impl->storage = std::allocate_shared<Storage>(detail::PoolAllocator<Storage>(), numel_of(shape));
  impl->shape = std::move(shape);
  return Tensor(std::move(impl));
}

Tensor full(const Shape& shape, float value, bool requires_grad) {
  Tensor t = empty(shape);
  std::fill_n(t.data(), t.numel(), value);
  t.requires_grad_(requires_grad);
  return t;  // moved, where returning requires_grad_'s reference would copy
}

Tensor zeros(const Shape& shape, bool requires_grad) { return full(shape, 0.f, requires_grad); }
Tensor ones(const Shape& shape, bool requires_grad) { return full(shape, 1.f, requires_grad); }
Tensor zeros_like(const Tensor& t, bool requires_grad) { return zeros(t.shape(), requires_grad); }
Tensor ones_like(const Tensor& t, bool requires_grad) { return ones(t.shape(), requires_grad); }

Tensor tensor(const std::vector<float>& values, const Shape& shape, bool requires_grad) {
  Tensor t = empty(shape);
  if (static_cast<int64_t>(values.size()) != t.numel()) {
    throw Error("tensor: " + std::to_string(values.size()) + " values do not fill shape " +
                to_string(shape) + " (" + std::to_string(t.numel()) + " elements)");
  }
  std::copy(values.begin(), values.end(), t.data());
  t.requires_grad_(requires_grad);
  return t;
}

Tensor tensor(std::initializer_list<float> values) {
  return tensor(std::vector<float>(values), {static_cast<int64_t>(values.size())});
}

Tensor scalar_tensor(float value, bool requires_grad) { return full({}, value, requires_grad); }

Tensor arange(float start, float end, float step) {
  if (step == 0.f || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step)) {
    throw Error("arange: invalid range start=" + std::to_string(start) +
                " end=" + std::to_string(end) + " step=" + std::to_string(step));
  }
  const double count = std::ceil((double(end) - start) / step);
  Tensor t = empty({std::max<int64_t>(0, static_cast<int64_t>(count))});
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data()[i] = static_cast<float>(start + i * double(step));
  return t;
}

Tensor arange(float end) { return arange(0.f, end, 1.f); }

Tensor eye(int64_t n) {
  Tensor t = zeros({n, n});
  for (int64_t i = 0; i < n; ++i) t.data()[i * n + i] = 1.f;
  return t;
}

// -- printing, in PyTorch's style ------------------------------------------------------------

namespace {

// How every element of one tensor is printed, chosen once from all values (as PyTorch does).
struct Formatter {
  bool integral = true;     // "1." instead of "1.0000"
  bool scientific = false;  // "1.0000e+04"
  int width = 1;

  explicit Formatter(const Tensor& t) {
    double max_abs = 0, min_abs = INFINITY;
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float v = t.data()[i];
      if (!std::isfinite(v)) continue;
      if (v != std::nearbyint(v)) integral = false;
      max_abs = std::max<double>(max_abs, std::fabs(v));
      if (v != 0) min_abs = std::min<double>(min_abs, std::fabs(v));
    }
    // PyTorch's rule: scientific when the nonzero magnitudes span more than 1000x, or reach
    // above 1e8 or below 1e-4.
    scientific = max_abs > 1e8 || min_abs < 1e-4 || (max_abs > 0 && max_abs / min_abs > 1000);
    if (scientific) integral = false;
    for (int64_t i = 0; i < t.numel(); ++i) {
      width = std::max(width, static_cast<int>(format(t.data()[i]).size()));
    }
  }

  std::string format(float v) const {
    char buffer[64];
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (integral) {
      std::snprintf(buffer, sizeof buffer, "%.0f.", double(v));
    } else {
      std::snprintf(buffer, sizeof buffer, scientific ? "%.4e" : "%.4f", double(v));
    }
    return buffer;
  }

  std::string padded(float v) const {
    std::string s = format(v);
    return std::string(width - s.size(), ' ') + s;
  }
};

// Prints dims from `dim` on, starting at flat `offset`. Large tensors show the first and last
// three entries of each dim around "...", like PyTorch's summarisation above 1000 elements.
void print_dims(std::string& out, const Tensor& t, const Formatter& f, int64_t dim, int64_t offset,
                int indent, bool summarize) {
  const int64_t size = t.shape()[dim];
  const int64_t stride = numel_of(Shape(t.shape().begin() + dim + 1, t.shape().end()));
  const bool last = dim == t.dim() - 1;
  out += "[";
  for (int64_t i = 0; i < size; ++i) {
    if (summarize && size > 6 && i == 3) {
      out += last ? " ..., " : "...,\n";
      if (!last) out.append(indent + 1, ' ');
      i = size - 4;
      continue;
    }
    if (last) {
      out += f.padded(t.data()[offset + i]);
    } else {
      print_dims(out, t, f, dim + 1, offset + i * stride, indent + 1, summarize);
    }
    if (i + 1 < size && last) out += ", ";
    if (i + 1 < size && !last) {
      // Rows end with one newline, 2-d blocks with two, and so on; then align under "[".
      out += ',';
      out.append(t.dim() - dim - 1, '\n');
      out.append(indent + 1, ' ');
    }
  }
  out += "]";
}

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  const std::string prefix = "tensor(";
  std::string out = prefix;
  const Formatter f(*this);
  if (dim() == 0) {
    out += f.format(item());
  } else if (numel() == 0) {
    out += "[], size=(";
    for (int64_t i = 0; i < dim(); ++i) out += (i ? ", " : "") + std::to_string(shape()[i]);
    out += dim() == 1 ? ",)" : ")";
  } else {
    print_dims(out, *this, f, 0, 0, static_cast<int>(prefix.size()), numel() > 1000);
  }
  if (grad_fn()) {
    out += ", grad_fn=<" + grad_fn()->name() + ">";
  } else if (requires_grad()) {
    out += ", requires_grad=True";
  }
  return out + ")";
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace ember
