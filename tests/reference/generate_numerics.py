#!/usr/bin/env python3
"""Writes numerics.safetensors: PyTorch's outputs and gradients for the stable ops on
extreme inputs (±1e4, ±inf, NaN), which tests/test_numerics.cpp checks ember against.

Run from anywhere (needs torch >= 1.13):  python3 tests/reference/generate_numerics.py

Unlike the other fixtures, everything here is computed in float32, as a user's model would
run it: overflow (e^1e4) and the inf - inf of a naive formula happen at float32's range, and
the question asked is "finite, infinite or NaN, and which value", not the last bit.

One case per op, each storing float32 tensors under "<case>/<key>":
  in0, in1, ...  the inputs (targets included)
  out            the output, with reduction="none" so that one NaN cannot hide the others
  gout           the upstream gradient
  grad<i>        the gradient of <out, gout> with respect to input i (the inputs in
                 "grad_inputs" of the case's metadata)
The metadata key "cases" lists {"name", "op", "inputs", "grad_inputs"} in order.
"""

import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save  # noqa: E402  (written beside this file)

HERE = os.path.dirname(os.path.abspath(__file__))
INF = math.inf
NAN = math.nan

# Rows of logits for the ops that reduce along dim 1. Row by row: huge of both signs, all
# equal and huge, +inf alone, +inf twice, -inf (a class that can never win), all -inf, NaN,
# and +-1e4 beside -inf.
LOGITS = [
    [1e4, -1e4, 0.0, 1e4],
    [-1e4, -1e4, -1e4, -1e4],
    [INF, 0.0, 1.0, 2.0],
    [INF, INF, 0.0, 1.0],
    [-INF, 0.0, 1.0, 2.0],
    [-INF, -INF, -INF, -INF],
    [NAN, 0.0, 1.0, 2.0],
    [1e4, -INF, 0.0, -1e4],
]
# One class index per row of LOGITS, for cross_entropy.
CLASSES = [1, 0, 0, 2, 0, 3, 1, 1]
# The binary logits crossed with the targets 0, 1/2 and 1.
BINARY_LOGITS = [1e4, -1e4, INF, -INF, NAN, 0.0]
BINARY_TARGETS = [0.0, 0.5, 1.0]
# gaussian_nll_loss: the error (input - target) crossed with the variance.
ERRORS = [0.0, 1.0, 1e4, INF]
VARIANCES = [INF, 1e30, 1.0, 1e-30, 0.0]


def run(op, xs):
    if op == "softmax":
        return torch.softmax(xs[0], dim=1)
    if op == "log_softmax":
        return torch.log_softmax(xs[0], dim=1)
    if op == "logsumexp":
        return torch.logsumexp(xs[0], dim=1)
    if op == "cross_entropy":
        return F.cross_entropy(xs[0], xs[1].long(), reduction="none")
    if op == "binary_cross_entropy_with_logits":
        return F.binary_cross_entropy_with_logits(xs[0], xs[1], reduction="none")
    if op == "gaussian_nll_loss":
        return F.gaussian_nll_loss(xs[0], xs[1], xs[2], reduction="none")
    raise ValueError(op)


def main():
    torch.manual_seed(0)
    logits = torch.tensor(LOGITS)
    binary = torch.tensor([[x for _ in BINARY_TARGETS] for x in BINARY_LOGITS]).reshape(-1)
    binary_targets = torch.tensor(BINARY_TARGETS * len(BINARY_LOGITS))
    errors = torch.tensor([[e for _ in VARIANCES] for e in ERRORS]).reshape(-1)
    variances = torch.tensor(VARIANCES * len(ERRORS))
    cases = [
        ("softmax", [logits], [0]),
        ("log_softmax", [logits], [0]),
        ("logsumexp", [logits], [0]),
        ("cross_entropy", [logits, torch.tensor(CLASSES, dtype=torch.float32)], [0]),
        ("binary_cross_entropy_with_logits", [binary, binary_targets], [0]),
        ("gaussian_nll_loss", [errors, torch.zeros_like(errors), variances], [0, 2]),
    ]
    tensors = {}
    listed = []
    for op, inputs, grad_inputs in cases:
        xs = [x.clone().requires_grad_(i in grad_inputs) for i, x in enumerate(inputs)]
        out = run(op, xs)
        # Values of both signs and sizes, so no gradient formula cancels by symmetry.
        gout = torch.linspace(-1.0, 2.0, out.numel()).reshape(out.shape)
        grads = torch.autograd.grad(out, [xs[i] for i in grad_inputs], gout)
        for i, x in enumerate(inputs):
            tensors[f"{op}/in{i}"] = x
        tensors[f"{op}/out"] = out.detach()
        tensors[f"{op}/gout"] = gout
        for i, grad in zip(grad_inputs, grads):
            tensors[f"{op}/grad{i}"] = grad
        listed.append({"name": op, "op": op, "inputs": len(inputs), "grad_inputs": grad_inputs})
    path = os.path.join(HERE, "numerics.safetensors")
    save(path, tensors, metadata={"cases": json.dumps(listed), "torch": torch.__version__})
    print(f"{os.path.relpath(path)}: {len(listed)} cases, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
