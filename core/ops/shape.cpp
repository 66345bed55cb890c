// Shape ops. reshape shares storage; everything else here copies into a new contiguous tensor.

#include <algorithm>
#include <cmath>

#include <ember/core/ops/common.h>

namespace ember {

namespace {
Shape infer_shape(const Tensor& x, const Shape& requested) {
  Shape shape = requested;
  int64_t known = 1, inferred = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      if (inferred >= 0) throw Error("reshape: more than one -1 in shape " + to_string(requested));
      inferred = static_cast<int64_t>(d);
    } else if (shape[d] < 0) {
      throw Error("reshape: invalid size " + std::to_string(shape[d]) + " in shape " +
                  to_string(requested));
    } else {
      known *= shape[d];
    }
  }
  if (inferred >= 0 && known != 0 && x.numel() % known == 0) shape[inferred] = x.numel() / known;
  if (numel_of(shape) != x.numel() || (inferred >= 0 && known == 0)) {
    throw Error("reshape: shape " + to_string(requested) + " is invalid for a tensor of shape " +
                to_string(x.shape()) + " (" + std::to_string(x.numel()) + " elements)");
  }
  return shape;
}
}  // namespace

// A copy of x in new storage;  dx = g
Tensor clone(const Tensor& x) {
  detail::check_defined(x, "clone");
  Tensor out = empty(x.shape());
  std::copy_n(x.data(), x.numel(), out.data());
  return record("CloneBackward0", std::move(out), {x}, {},
                [](const Tensor& g, const BackwardContext&) { return Grads{g}; });
}

// Same data, new shape;  dx = reshape(g, shape of x)
Tensor reshape(const Tensor& x, const Shape& shape) {
  detail::check_defined(x, "reshape");
  Tensor out = share_storage(x, infer_shape(x, shape));
  return record("ViewBackward0", std::move(out), {x}, {},
                [input_shape = x.shape()](const Tensor& g, const BackwardContext&) {
                  return Grads{reshape(g, input_shape)};
                });
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  detail::check_defined(x, "flatten");
  if (x.dim() == 0) return reshape(x, {1});
  start_dim = normalize_dim(start_dim, x.dim(), "flatten");
  end_dim = normalize_dim(end_dim, x.dim(), "flatten");
  if (start_dim > end_dim) {
    throw Error("flatten: start_dim " + std::to_string(start_dim) + " comes after end_dim " +
                std::to_string(end_dim));
  }
  Shape shape(x.shape().begin(), x.shape().begin() + start_dim);
  int64_t merged = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) merged *= x.shape()[d];
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape().begin() + end_dim + 1, x.shape().end());
  return reshape(x, shape);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  detail::check_defined(x, "unsqueeze");
  dim = normalize_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape();
  shape.insert(shape.begin() + dim, 1);
  return reshape(x, shape);
}

Tensor squeeze(const Tensor& x) {
  detail::check_defined(x, "squeeze");
  Shape shape;
  for (int64_t size : x.shape()) {
    if (size != 1) shape.push_back(size);
  }
  return reshape(x, shape);
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  detail::check_defined(x, "squeeze");
  if (x.dim() == 0) return reshape(x, {});
  dim = normalize_dim(dim, x.dim(), "squeeze");
  Shape shape = x.shape();
  if (shape[dim] == 1) shape.erase(shape.begin() + dim);
  return reshape(x, shape);
}

// Output dim i is input dim dims[i];  dx = permute(g, inverse of dims)
Tensor permute(const Tensor& x, const Dims& dims) {
  detail::check_defined(x, "permute");
  if (static_cast<int64_t>(dims.size()) != x.dim()) {
    throw Error("permute: got " + std::to_string(dims.size()) + " dims for a tensor of shape " +
                to_string(x.shape()));
  }
  Dims normalized(dims.size()), inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    normalized[i] = normalize_dim(dims[i], x.dim(), "permute");
    if (inverse[normalized[i]] != -1) {
      throw Error("permute: dim " + std::to_string(dims[i]) + " appears more than once");
    }
    inverse[normalized[i]] = static_cast<int64_t>(i);
  }
  Shape shape(dims.size());
  Shape source_strides(dims.size());
  const Shape strides = contiguous_strides(x.shape());
  for (size_t i = 0; i < dims.size(); ++i) {
    shape[i] = x.shape()[normalized[i]];
    source_strides[i] = strides[normalized[i]];
  }
  // Gather: walk the output in order, reading x through permuted strides.
  Tensor out = empty(shape);
  kernels::cpu::gather(x.data(), source_strides, shape, out.data());
  return record(
      "PermuteBackward0", std::move(out), {x}, {},
      [inverse](const Tensor& g, const BackwardContext&) { return Grads{permute(g, inverse)}; });
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  detail::check_defined(x, "transpose");
  if (x.dim() == 0) return x;
  Dims dims(x.dim());
  for (int64_t d = 0; d < x.dim(); ++d) dims[d] = d;
  std::swap(dims[normalize_dim(dim0, x.dim(), "transpose")],
            dims[normalize_dim(dim1, x.dim(), "transpose")]);
  return permute(x, dims);
}

// Joins along `dim`;  each input's gradient is its slice of g
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  if (tensors.empty()) throw Error("cat: expected a non-empty list of tensors");
  for (const Tensor& t : tensors) detail::check_defined(t, "cat");
  const Tensor& first = tensors[0];
  if (first.dim() == 0) throw Error("cat: zero-dimensional tensors cannot be concatenated");
  dim = normalize_dim(dim, first.dim(), "cat");
  Shape shape = first.shape();
  shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Shape& s = tensors[i].shape();
    Shape expected = first.shape();
    if (s.size() == expected.size()) expected[dim] = s[dim];
    if (s != expected) {
      throw Error("cat: tensor " + std::to_string(i) + " has shape " + to_string(s) +
                  ", which does not match " + to_string(first.shape()) + " except in dim " +
                  std::to_string(dim));
    }
    detail::check_same_device(first, tensors[i], "cat");
    shape[dim] += s[dim];
  }
  Tensor out = empty(shape);
  // Each input is [outer, size_i * inner]; the output row interleaves them.
  const detail::DimSplit split = detail::split_at(shape, dim);
  std::vector<int64_t> sizes;
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    const int64_t chunk = t.shape()[dim] * split.inner;
    for (int64_t o = 0; o < split.outer; ++o) {
      std::copy_n(t.data() + o * chunk, chunk, out.data() + o * split.size * split.inner + offset);
    }
    offset += chunk;
    sizes.push_back(t.shape()[dim]);
  }
  return record("CatBackward0", std::move(out), tensors, {},
                [dim, sizes](const Tensor& g, const BackwardContext& ctx) {
                  Grads grads;
                  int64_t start = 0;
                  for (size_t i = 0; i < sizes.size(); ++i) {
                    grads.push_back(ctx.needs_grad(i) ? narrow(g, dim, start, sizes[i]) : Tensor());
                    start += sizes[i];
                  }
                  return grads;
                });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  if (tensors.empty()) throw Error("stack: expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    detail::check_defined(tensors[i], "stack");
    if (tensors[i].shape() != tensors[0].shape()) {
      throw Error("stack: tensor " + std::to_string(i) + " has shape " +
                  to_string(tensors[i].shape()) + ", expected " + to_string(tensors[0].shape()));
    }
  }
  dim = normalize_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (const Tensor& t : tensors) expanded.push_back(unsqueeze(t, dim));
  return cat(expanded, dim);
}

// x[start : start + length] along dim;  dx = g padded with zeros back to x's shape
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  detail::check_defined(x, "narrow");
  if (x.dim() == 0) throw Error("narrow: cannot narrow a 0-d tensor");
  dim = normalize_dim(dim, x.dim(), "narrow");
  const int64_t size = x.shape()[dim];
  if (start < 0) start += size;
  if (start < 0 || length < 0 || start + length > size) {
    throw Error("narrow: range [" + std::to_string(start) + ", " + std::to_string(start + length) +
                ") is out of bounds for dim " + std::to_string(dim) + " of shape " +
                to_string(x.shape()));
  }
  Shape shape = x.shape();
  shape[dim] = length;
  Tensor out = empty(shape);
  const detail::DimSplit split = detail::split_at(x.shape(), dim);
  for (int64_t o = 0; o < split.outer; ++o) {
    std::copy_n(x.data() + (o * size + start) * split.inner, length * split.inner,
                out.data() + o * length * split.inner);
  }
  return record(
      "SliceBackward0", std::move(out), {x}, {},
      [dim, start, length, input_shape = x.shape()](const Tensor& g, const BackwardContext&) {
        Shape before = input_shape, after = input_shape;
        before[dim] = start;
        after[dim] = input_shape[dim] - start - length;
        return Grads{cat({zeros(before), g, zeros(after)}, dim)};
      });
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
  detail::check_defined(x, "slice");
  if (x.dim() == 0) throw Error("slice: cannot slice a 0-d tensor");
  dim = normalize_dim(dim, x.dim(), "slice");
  const int64_t size = x.shape()[dim];
  // Python's rules: negative bounds count from the end, and bounds clip to [0, size].
  auto clip = [size](int64_t i) { return std::clamp(i < 0 ? i + size : i, int64_t(0), size); };
  start = clip(start);
  end = std::max(clip(end), start);
  return narrow(x, dim, start, end - start);
}

namespace {
// Checks `index` is a 1-d tensor of integers in [0, size) and returns them.
std::vector<int64_t> checked_indices(const char* op, const Tensor& index, int64_t size,
                                     const Shape& shape) {
  detail::check_defined(index, op);
  if (index.dim() > 1) {
    throw Error(std::string(op) + ": index must be 0-d or 1-d, got shape " +
                to_string(index.shape()));
  }
  std::vector<int64_t> out;
  for (float v : index.to_vector()) {
    if (v != std::floor(v) || v < 0 || v >= size) {
      throw Error(std::string(op) + ": index " + std::to_string(v) + " is not an integer in [0, " +
                  std::to_string(size) + ") for shape " + to_string(shape));
    }
    out.push_back(static_cast<int64_t>(v));
  }
  return out;
}
}  // namespace

// x's entries `index` along dim;  dx = index_add(zeros, dim, index, g)
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  detail::check_defined(x, "index_select");
  if (x.dim() == 0) throw Error("index_select: cannot index a 0-d tensor");
  dim = normalize_dim(dim, x.dim(), "index_select");
  const std::vector<int64_t> picks =
      checked_indices("index_select", index, x.shape()[dim], x.shape());
  Shape shape = x.shape();
  shape[dim] = static_cast<int64_t>(picks.size());
  Tensor out = empty(shape);
  const detail::DimSplit split = detail::split_at(x.shape(), dim);
  for (int64_t o = 0; o < split.outer; ++o) {
    for (size_t k = 0; k < picks.size(); ++k) {
      std::copy_n(x.data() + (o * split.size + picks[k]) * split.inner, split.inner,
                  out.data() + (o * int64_t(picks.size()) + int64_t(k)) * split.inner);
    }
  }
  const Tensor saved_index = index.detach();
  return record("IndexSelectBackward0", std::move(out), {x}, {saved_index},
                [dim, input_shape = x.shape()](const Tensor& g, const BackwardContext& ctx) {
                  return Grads{index_add(zeros(input_shape), dim, ctx.saved[0], g)};
                });
}

// x + source scattered to `index` along dim;  dx = g, dsource = index_select(g, dim, index)
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source) {
  detail::check_defined(x, "index_add");
  detail::check_defined(source, "index_add");
  if (x.dim() == 0) throw Error("index_add: cannot index a 0-d tensor");
  dim = normalize_dim(dim, x.dim(), "index_add");
  const std::vector<int64_t> picks = checked_indices("index_add", index, x.shape()[dim], x.shape());
  Shape expected = x.shape();
  expected[dim] = static_cast<int64_t>(picks.size());
  if (source.shape() != expected) {
    throw Error("index_add: source shape " + to_string(source.shape()) + " should be " +
                to_string(expected) + " for x of shape " + to_string(x.shape()) + " and " +
                std::to_string(picks.size()) + " indices");
  }
  Tensor out = clone(x.detach());
  const detail::DimSplit split = detail::split_at(x.shape(), dim);
  for (int64_t o = 0; o < split.outer; ++o) {
    for (size_t k = 0; k < picks.size(); ++k) {
      const float* from = source.data() + (o * int64_t(picks.size()) + int64_t(k)) * split.inner;
      float* to = out.data() + (o * split.size + picks[k]) * split.inner;
      for (int64_t i = 0; i < split.inner; ++i) to[i] += from[i];
    }
  }
  const Tensor saved_index = index.detach();
  return record("IndexAddBackward0", std::move(out), {x, source}, {saved_index},
                [dim](const Tensor& g, const BackwardContext& ctx) {
                  return Grads{
                      detail::grad_if(ctx, 0, [&] { return g; }),
                      detail::grad_if(ctx, 1, [&] { return index_select(g, dim, ctx.saved[0]); })};
                });
}

// x broadcast to shape;  dx = sum_to(g, shape of x)
Tensor expand(const Tensor& x, const Shape& shape) {
  detail::check_defined(x, "expand");
  if (shape.size() < x.shape().size()) {
    throw Error("expand: cannot expand shape " + to_string(x.shape()) + " to fewer dims " +
                to_string(shape));
  }
  Shape target = shape;
  const size_t lead = shape.size() - x.shape().size();
  for (size_t d = 0; d < shape.size(); ++d) {
    const int64_t own = d < lead ? -2 : x.shape()[d - lead];
    if (target[d] == -1 && own != -2) target[d] = own;
    if (target[d] < 0 || (own != -2 && own != 1 && own != target[d])) {
      throw Error("expand: cannot expand shape " + to_string(x.shape()) + " to " +
                  to_string(shape));
    }
  }
  if (target == x.shape()) return x;
  Tensor out = empty(target);
  kernels::cpu::gather(x.data(), detail::broadcast_strides(x.shape(), target), target, out.data());
  return record("ExpandBackward0", std::move(out), {x}, {},
                [input_shape = x.shape()](const Tensor& g, const BackwardContext&) {
                  return Grads{sum_to(g, input_shape)};
                });
}

// Sums the broadcast dims of x away: leading extra dims, and dims where `shape` has size 1.
Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  if (lead < 0) {
    throw Error("sum_to: cannot sum shape " + to_string(x.shape()) + " to larger shape " +
                to_string(shape));
  }
  Dims dims;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead || (shape[d - lead] == 1 && x.shape()[d] != 1)) dims.push_back(d);
  }
  if (dims.empty()) return reshape(x, shape);
  return reshape(sum(x, dims, true), shape);
}

}  // namespace ember
