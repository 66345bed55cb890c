#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that tests/test_reference.cpp checks ember against.

Run from anywhere (needs torch >= 1.13):  python3 tests/reference/generate.py

It also runs generate_nn.py (layers, losses), generate_optim.py (optimizers, schedulers),
generate_models.py (the seed models), generate_numerics.py (extreme inputs) and
make_interop_fixture.py (safetensors dtypes), so this one command regenerates every fixture.

One safetensors file per op family (binary, unary, reduce, softmax, shape, linalg). Each case
is described in the file's metadata and stores these float32 tensors under "<case>/<key>":

  in0, in1, ...   the op's inputs
  out             the op's output (for max/min: the values; "indices" holds the indices)
  gout            a random upstream gradient v
  grad<i>         v^T J: the gradient of <out, v> with respect to input i
  u<i>            a random direction, one per differentiable input
  hvp<i>          d/d(input i) of sum_j <grad<j>, u<j>>: a Hessian-vector product of <out, v>

The metadata key "cases" holds a JSON list with one object per case, in order:
  {"name": ..., "op": ..., <the op's arguments>, "inputs": n, "grad_inputs": [i, ...],
   "hvp": bool}
The same object drives both sides: `run_op` below and `run_op` in test_reference.cpp read
the same fields, so a case means the same computation in both languages.

Inputs are drawn in float32; the reference is then computed in float64 from exactly those
float32 values and rounded once to float32, so stored results are as exact as float32 allows
and any difference is ember's own rounding. Second-order data is stored only where PyTorch's
gradient itself depends on the inputs (for linear ops like add or reshape it does not, and the
Hessian is zero).
"""

import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save  # noqa: E402  (written beside this file)

HERE = os.path.dirname(os.path.abspath(__file__))

BINARY_OPS = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]
COMPARISON_OPS = ["eq", "ne", "lt", "le", "gt", "ge"]
UNARY_OPS = ["neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh", "erf"]

# The broadcast pairs of the issue; each is also run with the operands swapped.
BROADCAST_PAIRS = [
    ((1,), ()),
    ((2,), ()),
    ((1,), (2,)),
    ((2, 1), (2,)),
    ((1, 2), (2,)),
    ((3, 2), (2,)),
    ((1, 3, 2), (2,)),
    ((1, 3, 2), (3, 2)),
    ((3, 1, 2), (3, 2)),
    ((2, 3, 2), ()),
    ((3, 1, 2), (1, 3, 2)),
]


def run_op(spec, xs):
    """Applies the op that `spec` describes to the tensors `xs`; returns a tuple of outputs
    (the differentiable output first; max/min add their indices as a float tensor)."""
    op = spec["op"]
    if op in BINARY_OPS:
        return (getattr(torch, op)(xs[0], xs[1]),)
    if op in COMPARISON_OPS:
        return (getattr(torch, op)(xs[0], xs[1]).to(xs[0].dtype),)
    if op in UNARY_OPS:
        return (getattr(torch, op)(xs[0]),)
    if op == "pow_scalar":
        return (torch.pow(xs[0], spec["exponent"]),)
    if op == "gelu":
        approximate = "tanh" if spec["tanh_approximation"] else "none"
        return (F.gelu(xs[0], approximate=approximate),)
    if op == "softplus":
        return (F.softplus(xs[0], beta=spec["beta"], threshold=spec["threshold"]),)
    if op == "clamp":
        return (torch.clamp(xs[0], spec["min"], spec["max"]),)
    if op in ("sum", "mean"):
        reduce = getattr(torch, op)
        if "dims" not in spec:
            return (reduce(xs[0]),)
        return (reduce(xs[0], dim=spec["dims"], keepdim=spec["keepdim"]),)
    if op == "var":
        if "dims" not in spec:
            return (torch.var(xs[0], unbiased=spec["unbiased"]),)
        return (torch.var(xs[0], dim=spec["dims"], unbiased=spec["unbiased"],
                          keepdim=spec["keepdim"]),)
    if op == "std":
        if "dims" not in spec:
            return (torch.std(xs[0], unbiased=spec["unbiased"]),)
        return (torch.std(xs[0], dim=spec["dims"], unbiased=spec["unbiased"],
                          keepdim=spec["keepdim"]),)
    if op in ("max", "min"):
        values, indices = getattr(torch, op)(xs[0], dim=spec["dim"], keepdim=spec["keepdim"])
        return (values, indices.to(xs[0].dtype))
    if op == "logsumexp":
        return (torch.logsumexp(xs[0], dim=spec["dim"], keepdim=spec["keepdim"]),)
    if op == "softmax":
        return (torch.softmax(xs[0], dim=spec["dim"]),)
    if op == "log_softmax":
        return (torch.log_softmax(xs[0], dim=spec["dim"]),)
    if op == "reshape":
        return (torch.reshape(xs[0], spec["shape"]),)
    if op == "clone":
        return (torch.clone(xs[0]),)
    if op == "flatten":
        return (torch.flatten(xs[0], spec["start_dim"], spec["end_dim"]),)
    if op == "transpose":
        return (torch.transpose(xs[0], spec["dim0"], spec["dim1"]),)
    if op == "permute":
        return (xs[0].permute(spec["dims"]),)
    if op == "unsqueeze":
        return (torch.unsqueeze(xs[0], spec["dim"]),)
    if op == "squeeze":
        if "dim" not in spec:
            return (torch.squeeze(xs[0]),)
        return (torch.squeeze(xs[0], spec["dim"]),)
    if op == "cat":
        return (torch.cat(xs, dim=spec["dim"]),)
    if op == "stack":
        return (torch.stack(xs, dim=spec["dim"]),)
    if op == "narrow":
        return (torch.narrow(xs[0], spec["dim"], spec["start"], spec["length"]),)
    if op == "slice":
        index = [slice(None)] * xs[0].dim()
        index[spec["dim"]] = slice(spec["start"], spec["end"])
        return (xs[0][tuple(index)],)
    if op == "index_select":
        index = torch.tensor(spec["index"], dtype=torch.long)
        return (torch.index_select(xs[0], spec["dim"], index),)
    if op == "expand":
        return (xs[0].expand(spec["shape"]),)
    if op == "matmul":
        return (torch.matmul(xs[0], xs[1]),)
    if op == "linear":
        return (F.linear(xs[0], xs[1], xs[2] if len(xs) > 2 else None),)
    if op == "batched_linear":
        # x [B, K, in] (member k reads x[:, k]) or [B, in] (shared), w [K, out, in], b [K, out]
        pattern = "bki,koi->bko" if xs[0].dim() == 3 else "bi,koi->bko"
        y = torch.einsum(pattern, xs[0], xs[1])
        return (y + xs[2] if len(xs) > 2 else y,)
    raise ValueError(f"unknown op {op!r}")


class Family:
    """The cases of one fixture file, with a random generator of its own so that adding a case
    to one family leaves every other file byte-for-byte unchanged."""

    def __init__(self, name, seed):
        self.name = name
        self.generator = torch.Generator().manual_seed(seed)
        self.cases = []
        self.tensors = {}

    # -- float32 inputs ----------------------------------------------------------------------
    def randn(self, *shape, scale=1.0):
        return torch.randn(shape, generator=self.generator) * scale

    def uniform(self, low, high, *shape):
        return low + (high - low) * torch.rand(shape, generator=self.generator)

    def signed_uniform(self, low, high, *shape):
        """Magnitudes in [low, high) with random signs: safely away from zero."""
        sign = torch.randint(0, 2, shape, generator=self.generator) * 2 - 1
        return sign * self.uniform(low, high, *shape)

    def distinct(self, *shape):
        """Values at least 0.2 apart, in random order: no ties for max/min to break."""
        n = 1
        for size in shape:
            n *= size
        order = torch.randperm(n, generator=self.generator).float()
        jitter = 0.2 * torch.rand(n, generator=self.generator)
        return ((order + jitter) * 0.4 - 0.2 * n).reshape(shape)

    # -- one case ----------------------------------------------------------------------------
    def add(self, name, spec, inputs, grad_inputs=None):
        """Computes the reference for one case and records it. `grad_inputs` lists the inputs
        to differentiate (default: all)."""
        assert name not in (case["name"] for case in self.cases), f"duplicate case {name!r}"
        if grad_inputs is None:
            grad_inputs = list(range(len(inputs)))
        inputs = [x.to(torch.float32) for x in inputs]
        xs = [x.double().requires_grad_(i in grad_inputs) for i, x in enumerate(inputs)]
        outputs = run_op(spec, xs)
        out = outputs[0]

        stored = {f"in{i}": x for i, x in enumerate(inputs)}
        stored["out"] = out
        if len(outputs) > 1:
            stored["indices"] = outputs[1]

        hvp = False
        if grad_inputs:
            wrt = [xs[i] for i in grad_inputs]
            gout = torch.randn(out.shape, generator=self.generator)
            grads = torch.autograd.grad(out, wrt, gout.double(), create_graph=True)
            stored["gout"] = gout
            stored.update({f"grad{i}": g for i, g in zip(grad_inputs, grads)})
            hvp = any(g.requires_grad for g in grads)
            if hvp:
                directions = [torch.randn(x.shape, generator=self.generator) for x in wrt]
                inner = sum((g * u.double()).sum() for g, u in zip(grads, directions))
                hvps = torch.autograd.grad(inner, wrt, allow_unused=True)
                for i, u, h, x in zip(grad_inputs, directions, hvps, wrt):
                    stored[f"u{i}"] = u
                    stored[f"hvp{i}"] = torch.zeros_like(x) if h is None else h

        for key, value in stored.items():
            self.tensors[f"{name}/{key}"] = value.detach().to(torch.float32)
        self.cases.append({"name": name, **spec, "inputs": len(inputs),
                           "grad_inputs": grad_inputs, "hvp": hvp})

    def write(self):
        path = os.path.join(HERE, f"{self.name}.safetensors")
        metadata = {
            "generator": "tests/reference/generate.py",
            "torch": torch.__version__,
            "cases": json.dumps(self.cases, separators=(",", ":")),
        }
        save(path, self.tensors, metadata)
        return path


def shape_name(shape):
    return "[" + ",".join(str(size) for size in shape) + "]"


# -- families --------------------------------------------------------------------------------

def binary_family():
    family = Family("binary", seed=1)

    def operands(op, shape_a, shape_b):
        if op == "div":  # denominators kept away from 0
            return family.randn(*shape_a), family.signed_uniform(0.5, 2.0, *shape_b)
        if op == "pow":  # positive base, so every real exponent is defined
            return family.uniform(0.5, 2.0, *shape_a), family.uniform(-2.0, 2.0, *shape_b)
        return family.randn(*shape_a), family.randn(*shape_b)

    for op in BINARY_OPS:
        for shape_a, shape_b in BROADCAST_PAIRS:
            for a, b in ((shape_a, shape_b), (shape_b, shape_a)):
                family.add(f"{op} {shape_name(a)} {shape_name(b)}", {"op": op},
                           operands(op, a, b))
        # Same shapes, and zero-size shapes (alone and broadcast against a size-1 operand).
        for a, b in (((2, 3), (2, 3)), ((0,), (0,)), ((1, 0, 3), (3,)), ((0,), ())):
            family.add(f"{op} {shape_name(a)} {shape_name(b)}", {"op": op},
                       operands(op, a, b))

    # PyTorch splits the gradient equally between equal operands of maximum/minimum.
    tied_a = torch.tensor([[1.0, 2.0, -3.0], [0.5, 0.5, 4.0]])
    tied_b = torch.tensor([[1.0, -2.0, -3.0], [0.5, 1.5, 0.0]])
    for op in ("maximum", "minimum"):
        family.add(f"{op} ties [2,3] [2,3]", {"op": op}, [tied_a, tied_b])
        family.add(f"{op} ties [2,3] [3]", {"op": op}, [tied_a, torch.tensor([1.0, 0.5, 4.0])])
        family.add(f"{op} ties [2,3] []", {"op": op}, [tied_a, torch.tensor(0.5)])

    # Comparisons: small integers, so ties are frequent and every op sees true and false.
    def small_integers(*shape):
        return torch.randint(-1, 2, shape, generator=family.generator).float()

    for op in COMPARISON_OPS:
        pairs = [pair for a, b in BROADCAST_PAIRS for pair in ((a, b), (b, a))]
        for a, b in pairs + [((2, 3), (2, 3)), ((0,), (1,))]:
            family.add(f"{op} {shape_name(a)} {shape_name(b)}", {"op": op},
                       [small_integers(*a), small_integers(*b)], grad_inputs=[])
    return family


def unary_family():
    family = Family("unary", seed=2)
    positive_ops = {"log", "sqrt"}
    for op in UNARY_OPS:
        for shape in ((2, 3), (), (0,), (1, 0, 3)):
            if op in positive_ops:
                x = family.uniform(0.2, 3.0, *shape)
            else:
                x = family.randn(*shape, scale=2.0)
            family.add(f"{op} {shape_name(shape)}", {"op": op}, [x])

    # Gradient conventions at the kink: PyTorch gives abs'(0) = 0 and relu'(0) = 0.
    at_zero = torch.tensor([[-1.5, 0.0, 2.0], [0.0, -0.0, 0.25]])
    family.add("abs at 0", {"op": "abs"}, [at_zero])
    family.add("relu at 0", {"op": "relu"}, [at_zero])
    # Saturated tails: the gradients must stay finite (and tiny) rather than overflow.
    tails = torch.tensor([-30.0, -12.0, 12.0, 30.0])
    for op in ("sigmoid", "tanh", "exp", "erf"):
        family.add(f"{op} tails", {"op": op}, [tails])

    wide = torch.tensor([-6.0, -3.0, -0.5, 0.0, 0.5, 3.0, 6.0])
    for approximate in (False, True):
        spec = {"op": "gelu", "tanh_approximation": approximate}
        suffix = " tanh" if approximate else ""
        family.add(f"gelu{suffix} [2,3]", spec, [family.randn(2, 3, scale=2.0)])
        family.add(f"gelu{suffix} wide", spec, [wide])
        family.add(f"gelu{suffix} [0]", spec, [family.randn(0)])

    # softplus switches to the identity where beta * x > threshold.
    softplus_inputs = torch.tensor([-8.0, -1.0, -0.1, 0.0, 0.3, 2.0, 19.0, 21.0, 40.0])
    family.add("softplus default", {"op": "softplus", "beta": 1.0, "threshold": 20.0},
               [softplus_inputs])
    family.add("softplus beta 2 threshold 5", {"op": "softplus", "beta": 2.0, "threshold": 5.0},
               [torch.tensor([-3.0, -0.7, 0.0, 1.2, 2.4, 2.6, 4.0])])
    family.add("softplus [2,3]", {"op": "softplus", "beta": 0.5, "threshold": 20.0},
               [family.randn(2, 3, scale=3.0)])

    # clamp passes the gradient where min <= x <= max, boundaries included (as PyTorch).
    clamp_spec = {"op": "clamp", "min": -1.0, "max": 0.5}
    family.add("clamp [2,3]", clamp_spec, [family.randn(2, 3, scale=2.0)])
    family.add("clamp boundaries", clamp_spec, [torch.tensor([-2.0, -1.0, -0.25, 0.5, 0.75])])
    family.add("clamp [0]", clamp_spec, [family.randn(0)])

    # pow with a float exponent: integer exponents on any sign, fractional on positive bases;
    # exponent 0 has a zero gradient everywhere (PyTorch's rule, even at x = 0).
    for exponent, x in ((2.0, family.randn(2, 3)), (3.0, family.randn(2, 3)),
                        (0.5, family.uniform(0.2, 3.0, 2, 3)),
                        (-1.5, family.uniform(0.2, 3.0, 2, 3)),
                        (1.0, family.randn(4)), (0.0, torch.tensor([-1.0, 0.0, 2.0])),
                        (2.0, torch.tensor([-1.0, 0.0, 2.0]))):
        family.add(f"pow_scalar {exponent:g} {shape_name(x.shape)}",
                   {"op": "pow_scalar", "exponent": exponent}, [x])
    return family


def reduce_family():
    family = Family("reduce", seed=3)
    for op in ("sum", "mean"):
        family.add(f"{op} all [2,3,4]", {"op": op}, [family.randn(2, 3, 4)])
        family.add(f"{op} all []", {"op": op}, [family.randn()])
        for dims, keepdim in (([0], False), ([1], True), ([-1], False), ([0, 2], False),
                              ([2, 0], True), ([-3, -1], True), ([0, 1, 2], False)):
            family.add(f"{op} {dims} keepdim={keepdim} [2,3,4]",
                       {"op": op, "dims": dims, "keepdim": keepdim}, [family.randn(2, 3, 4)])
        # Zero-size: reducing over a non-empty dim of an empty tensor gives an empty result.
        family.add(f"{op} [2] [1,0,3]", {"op": op, "dims": [2], "keepdim": False},
                   [family.randn(1, 0, 3)])
    # The sum of nothing is 0 (the mean of nothing would be NaN, so it is not a fixture).
    family.add("sum all [0]", {"op": "sum"}, [family.randn(0)])
    family.add("sum [1] [1,0,3]", {"op": "sum", "dims": [1], "keepdim": False},
               [family.randn(1, 0, 3)])
    family.add("sum [1] keepdim=True [1,0,3]", {"op": "sum", "dims": [1], "keepdim": True},
               [family.randn(1, 0, 3)])

    for unbiased in (True, False):
        family.add(f"var all unbiased={unbiased} [3,4]", {"op": "var", "unbiased": unbiased},
                   [family.randn(3, 4)])
        family.add(f"var all unbiased={unbiased} [5]", {"op": "var", "unbiased": unbiased},
                   [family.randn(5)])
        for dims, keepdim in (([1], True), ([0], False), ([0, 2], False), ([-1], True)):
            family.add(f"var {dims} unbiased={unbiased} keepdim={keepdim} [2,3,4]",
                       {"op": "var", "dims": dims, "unbiased": unbiased, "keepdim": keepdim},
                       [family.randn(2, 3, 4)])

    for op in ("max", "min"):
        for dim, keepdim in ((0, False), (1, True), (-1, False), (2, True)):
            family.add(f"{op} dim={dim} keepdim={keepdim} [2,3,4]",
                       {"op": op, "dim": dim, "keepdim": keepdim}, [family.distinct(2, 3, 4)])
        family.add(f"{op} dim=0 [5]", {"op": op, "dim": 0, "keepdim": False},
                   [family.distinct(5)])
        family.add(f"{op} dim=2 [1,0,3]", {"op": op, "dim": 2, "keepdim": False},
                   [family.randn(1, 0, 3)])

    for dim, keepdim in ((0, False), (1, True), (-1, False)):
        family.add(f"logsumexp dim={dim} keepdim={keepdim} [3,4]",
                   {"op": "logsumexp", "dim": dim, "keepdim": keepdim},
                   [family.randn(3, 4, scale=2.0)])
    family.add("logsumexp dim=1 [2,3,4]", {"op": "logsumexp", "dim": 1, "keepdim": False},
               [family.randn(2, 3, 4)])
    # Without subtracting the max first, exp(1e4) overflows to inf.
    family.add("logsumexp dim=1 extreme", {"op": "logsumexp", "dim": 1, "keepdim": False},
               [torch.tensor([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, -1e4, -1e4 + 1.0]])])

    # std is sqrt(var); added last so the cases above keep their random draws.
    for unbiased in (True, False):
        family.add(f"std all unbiased={unbiased} [3,4]", {"op": "std", "unbiased": unbiased},
                   [family.randn(3, 4)])
        for dims, keepdim in (([1], True), ([0, 2], False)):
            family.add(f"std {dims} unbiased={unbiased} keepdim={keepdim} [2,3,4]",
                       {"op": "std", "dims": dims, "unbiased": unbiased, "keepdim": keepdim},
                       [family.randn(2, 3, 4)])
    return family


def softmax_family():
    family = Family("softmax", seed=4)
    # +-1e4: a naive exp overflows (inf/inf = NaN) or underflows to 0 (log 0 = -inf).
    extreme = torch.tensor([[1e4, -1e4, 0.0, 1e4],
                            [-1e4, -1e4, -1e4, -1e4 + 1.0],
                            [1e4, 1e4 - 2.0, 1e4 - 20.0, -1e4],
                            [3.0, 3.0, 3.0, 3.0]])
    for op in ("softmax", "log_softmax"):
        for dim in (0, 1, -1):
            family.add(f"{op} dim={dim} [3,4]", {"op": op, "dim": dim},
                       [family.randn(3, 4, scale=2.0)])
        family.add(f"{op} dim=1 [2,3,4]", {"op": op, "dim": 1}, [family.randn(2, 3, 4)])
        family.add(f"{op} dim=0 [5]", {"op": op, "dim": 0}, [family.randn(5, scale=3.0)])
        family.add(f"{op} dim=1 extreme", {"op": op, "dim": 1}, [extreme])
        family.add(f"{op} dim=0 extreme", {"op": op, "dim": 0}, [extreme])
        family.add(f"{op} dim=2 [1,0,3]", {"op": op, "dim": 2}, [family.randn(1, 0, 3)])
    return family


def shape_family():
    family = Family("shape", seed=5)

    def x234():
        return family.randn(2, 3, 4)

    for shape, new_shape in (((2, 3, 4), [4, -1]), ((2, 3, 4), [24]), ((2, 3, 4), [2, 1, 12]),
                             ((), [1]), ((6,), [3, 1, 2]), ((1, 0, 3), [0, 3]),
                             ((1, 0, 3), [3, 0])):
        family.add(f"reshape {shape_name(shape)} to {shape_name(new_shape)}",
                   {"op": "reshape", "shape": new_shape}, [family.randn(*shape)])
    for start, end in ((0, -1), (1, 2), (0, 1), (-2, -1)):
        family.add(f"flatten {start} {end} [2,3,4]",
                   {"op": "flatten", "start_dim": start, "end_dim": end}, [x234()])
    family.add("flatten [] ", {"op": "flatten", "start_dim": 0, "end_dim": -1}, [family.randn()])
    for dim0, dim1 in ((0, 2), (-1, -2), (1, 1), (0, 1)):
        family.add(f"transpose {dim0} {dim1} [2,3,4]",
                   {"op": "transpose", "dim0": dim0, "dim1": dim1}, [x234()])
    for dims in ([2, 0, 1], [1, 2, 0], [0, 1, 2], [-1, 0, 1]):
        family.add(f"permute {dims} [2,3,4]", {"op": "permute", "dims": dims}, [x234()])
    family.add("permute [1,0] [3,2]", {"op": "permute", "dims": [1, 0]}, [family.randn(3, 2)])
    for dim in (0, 1, 3, -1, -4):
        family.add(f"unsqueeze {dim} [2,3,4]", {"op": "unsqueeze", "dim": dim}, [x234()])
    family.add("unsqueeze 0 []", {"op": "unsqueeze", "dim": 0}, [family.randn()])
    family.add("squeeze [1,3,1,2]", {"op": "squeeze"}, [family.randn(1, 3, 1, 2)])
    family.add("squeeze [1,1]", {"op": "squeeze"}, [family.randn(1, 1)])
    for dim in (0, 2, 1, -2):
        family.add(f"squeeze {dim} [1,3,1,2]", {"op": "squeeze", "dim": dim},
                   [family.randn(1, 3, 1, 2)])

    for dim, shapes in ((0, [(2, 3), (1, 3), (4, 3)]), (1, [(2, 1), (2, 3)]),
                        (-1, [(2, 3, 1), (2, 3, 2), (2, 3, 3)]), (1, [(2, 2, 2), (2, 1, 2)]),
                        (0, [(2, 3), (0, 3), (1, 3)]), (0, [(5,)])):
        names = " ".join(shape_name(shape) for shape in shapes)
        family.add(f"cat {dim} {names}", {"op": "cat", "dim": dim},
                   [family.randn(*shape) for shape in shapes])
    for dim, count, shape in ((0, 2, (2, 3)), (1, 3, (2, 3)), (2, 2, (2, 3)), (-1, 2, (2, 3)),
                              (0, 2, ()), (1, 2, (3,))):
        family.add(f"stack {dim} {count}x{shape_name(shape)}", {"op": "stack", "dim": dim},
                   [family.randn(*shape) for _ in range(count)])

    for dim, start, length in ((0, 1, 1), (1, 0, 2), (-1, 1, 3), (2, 2, 2), (1, 1, 0)):
        family.add(f"narrow {dim} {start} {length} [2,3,4]",
                   {"op": "narrow", "dim": dim, "start": start, "length": length}, [x234()])
    for dim, start, end in ((1, 1, 3), (2, -2, 100), (0, -5, 1), (-1, 3, 1), (2, 0, -1)):
        family.add(f"slice {dim} {start}:{end} [2,3,4]",
                   {"op": "slice", "dim": dim, "start": start, "end": end}, [x234()])
    # Repeated indices: their gradients must add up, not overwrite each other.
    for dim, index in ((0, [1, 0, 1]), (1, [2, 0, 2, 2]), (-1, [3]), (2, [0, 0, 0]),
                       (1, [])):
        family.add(f"index_select {dim} {index} [2,3,4]",
                   {"op": "index_select", "dim": dim, "index": index}, [x234()])

    for shape, target in (((3, 1), [3, 4]), ((1,), [2, 3]), ((2, 1, 3), [-1, 4, -1]),
                          ((), [2, 2]), ((3,), [2, 3]), ((1, 3), [2, 2, 3]), ((2, 3), [2, 3])):
        family.add(f"expand {shape_name(shape)} to {shape_name(target)}",
                   {"op": "expand", "shape": target}, [family.randn(*shape)])
    for shape in ((2, 3, 4), (), (1, 0, 3)):
        family.add(f"clone {shape_name(shape)}", {"op": "clone"}, [family.randn(*shape)])
    return family


def linalg_family():
    family = Family("linalg", seed=6)
    for shape_a, shape_b in (((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)),
                             ((2, 3, 4), (2, 4, 2)), ((2, 1, 3, 4), (5, 4, 2)),
                             ((2, 3, 4), (4,)), ((4,), (2, 4, 3)), ((2, 3, 4), (4, 2)),
                             ((3, 4), (2, 4, 2)), ((1, 1), (1, 1)),
                             ((0, 3), (3, 2)), ((2, 0), (0, 3)), ((0,), (0,))):
        family.add(f"matmul {shape_name(shape_a)} {shape_name(shape_b)}", {"op": "matmul"},
                   [family.randn(*shape_a), family.randn(*shape_b)])
    for x_shape, with_bias in (((4, 3), True), ((4, 3), False), ((2, 5, 3), True),
                               ((3,), True), ((0, 3), True)):
        inputs = [family.randn(*x_shape), family.randn(2, 3)]
        if with_bias:
            inputs.append(family.randn(2))
        bias = "bias" if with_bias else "no bias"
        family.add(f"linear {shape_name(x_shape)} {bias}", {"op": "linear"}, inputs)
    # K = 3 members of 4 -> 2: per-member and shared inputs, with and without bias.
    for x_shape, with_bias in (((5, 3, 4), True), ((5, 3, 4), False), ((5, 4), True),
                               ((5, 4), False)):
        inputs = [family.randn(*x_shape), family.randn(3, 2, 4)]
        if with_bias:
            inputs.append(family.randn(3, 2))
        bias = "bias" if with_bias else "no bias"
        family.add(f"batched_linear {shape_name(x_shape)} {bias}", {"op": "batched_linear"},
                   inputs)
    return family


def main():
    total = 0
    for make in (binary_family, unary_family, reduce_family, softmax_family, shape_family,
                 linalg_family):
        family = make()
        path = family.write()
        size = os.path.getsize(path)
        total += size
        print(f"{os.path.relpath(path)}: {len(family.cases)} cases, {size} bytes")
    print(f"total: {total} bytes")
    # The other fixture families live in their own scripts; this one regenerates them all.
    import generate_models
    import generate_nn
    import generate_numerics
    import generate_optim
    import make_interop_fixture
    for script in (generate_nn, generate_optim, generate_models, generate_numerics,
                   make_interop_fixture):
        script.main()


if __name__ == "__main__":
    main()
