#!/usr/bin/env python3
"""Writes nn.safetensors: PyTorch references for ember's layers and losses, which
tests/test_layers.cpp and tests/test_losses.cpp check ember against.

Run from anywhere (needs torch >= 1.13):  python3 tests/reference/generate_nn.py

Each case stores float32 tensors under "<case>/<key>":

  <input>         every tensor the case feeds in, by name: "x" for a layer's input,
                  "weight"/"bias" for its parameters (random, so the affine part is
                  exercised), "input"/"target"/"weight"/"pos_weight"/"var" for a loss
  out             the output
  gout            a random upstream gradient v of the output's shape
  grad/<input>    v^T J: the gradient of <out, v> with respect to that input
  u/<input>       a random direction, one per differentiated input
  hvp/<input>     d/d(input) of sum_i <grad/i, u/i>: a Hessian-vector product of <out, v>
                  (only where PyTorch's gradient depends on the inputs at all)

BatchNorm1d cases that train over several steps store, per step k, "step<k>/x", "step<k>/out",
"step<k>/gout" and "step<k>/grad/<input>", then the buffers after the last step
("running_mean", "running_var", "num_batches_tracked") and an eval-mode pass on "eval/x".

The case's arguments (eps, reduction, ...) are not stored: the C++ test that reads a case
spells out the same arguments, so a mismatch fails loudly.

Inputs are drawn in float32; references are computed in float64 from exactly those values and
rounded once, so any difference is ember's float32 arithmetic. The output is byte-identical
run to run.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.stateless import functional_call

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save  # noqa: E402  (written beside this file)

HERE = os.path.dirname(os.path.abspath(__file__))

N, C = 7, 5  # odd batch and feature sizes, so no accidental symmetry hides a wrong dim


class Fixture:
    def __init__(self, seed):
        self.generator = torch.Generator().manual_seed(seed)
        self.tensors = {}

    # -- float32 inputs ----------------------------------------------------------------------
    def randn(self, *shape, scale=1.0):
        return torch.randn(shape, generator=self.generator) * scale

    def uniform(self, low, high, *shape):
        return low + (high - low) * torch.rand(shape, generator=self.generator)

    def classes(self, count, *shape):
        """Class indices in [0, count), as floats (ember holds them in float tensors)."""
        return torch.randint(0, count, shape, generator=self.generator).float()

    def probabilities(self, *shape, dim=1):
        """Rows of class probabilities along `dim` (summing to 1)."""
        return torch.softmax(self.randn(*shape, scale=2.0), dim=dim)

    def store(self, name, key, value):
        key = f"{name}/{key}"
        assert key not in self.tensors, f"duplicate key {key!r}"
        self.tensors[key] = value.detach().to(torch.float32).clone()

    # -- one case ----------------------------------------------------------------------------
    def derivatives(self, name, out, wrt, prefix=""):
        """Stores gout, grad/<k> and (where the gradient depends on the inputs) u/<k> and
        hvp/<k> for the double-precision leaves `wrt` (a dict name -> tensor)."""
        gout = torch.randn(out.shape, generator=self.generator)
        self.store(name, prefix + "out", out)
        self.store(name, prefix + "gout", gout)
        grads = torch.autograd.grad(out, list(wrt.values()), gout.double(), create_graph=True)
        for key, grad in zip(wrt, grads):
            self.store(name, f"{prefix}grad/{key}", grad)
        if prefix or not any(g.requires_grad for g in grads):
            return
        directions = [torch.randn(x.shape, generator=self.generator) for x in wrt.values()]
        inner = sum((g * u.double()).sum() for g, u in zip(grads, directions))
        hvps = torch.autograd.grad(inner, list(wrt.values()), allow_unused=True)
        for key, u, h, x in zip(wrt, directions, hvps, wrt.values()):
            self.store(name, f"u/{key}", u)
            self.store(name, f"hvp/{key}", torch.zeros_like(x) if h is None else h)

    def case(self, name, inputs, grad, fn):
        """Stores `inputs` (name -> float32 tensor), then fn(double leaves) and its derivatives
        with respect to the inputs named in `grad`."""
        leaves = {}
        for key, value in inputs.items():
            value = value.to(torch.float32)
            self.store(name, key, value)
            leaves[key] = value.double().requires_grad_(key in grad)
        out = fn(leaves)
        self.derivatives(name, out, {key: leaves[key] for key in grad})

    def layer(self, name, module, x, params=()):
        """A layer case: the module (any parameters randomised) applied to x."""
        inputs = {"x": x}
        for param in params:
            inputs[param] = self.randn(*getattr(module, param).shape, scale=0.5) + 1.0
        module = module.double()
        self.case(name, inputs, ["x", *params],
                  lambda t: functional_call(module, {p: t[p] for p in params}, (t["x"],)))

    def write(self):
        path = os.path.join(HERE, "nn.safetensors")
        metadata = {"generator": "tests/reference/generate_nn.py", "torch": torch.__version__}
        save(path, self.tensors, metadata)
        return path


# -- layers ----------------------------------------------------------------------------------

def activations(f):
    # Exact zeros too: PyTorch's LeakyReLU gradient at 0 is negative_slope.
    x = f.randn(N, C, scale=2.0)
    x[0, :2] = 0.0
    f.layer("leaky_relu default", nn.LeakyReLU(), x)
    f.layer("leaky_relu 0.2", nn.LeakyReLU(0.2), x)
    f.layer("sigmoid", nn.Sigmoid(), f.randn(N, C, scale=3.0))
    f.layer("tanh", nn.Tanh(), f.randn(N, C, scale=2.0))
    f.layer("gelu none", nn.GELU(), f.randn(N, C, scale=2.0))
    f.layer("gelu tanh", nn.GELU(approximate="tanh"), f.randn(N, C, scale=2.0))
    f.layer("softplus default", nn.Softplus(), f.randn(N, C, scale=3.0))
    # beta = 2, threshold = 3: the identity above x = 1.5 (some inputs are)
    f.layer("softplus beta 2 threshold 3", nn.Softplus(beta=2.0, threshold=3.0),
            f.randn(N, C, scale=2.0))


def layer_norms(f):
    f.layer("layer_norm [7,5]", nn.LayerNorm(C), f.randn(N, C, scale=2.0) + 0.5,
            params=("weight", "bias"))
    f.layer("layer_norm [7,3,5] over (3,5) eps 1e-3", nn.LayerNorm((3, C), eps=1e-3),
            f.randn(N, 3, C), params=("weight", "bias"))
    f.layer("layer_norm [7,5] no affine", nn.LayerNorm(C, elementwise_affine=False),
            f.randn(N, C))


def batch_norm_training(f, name, module, shape, steps=3, affine=True):
    """Trains `module` on `steps` batches, then runs it once in eval mode."""
    params = ("weight", "bias") if affine else ()
    inputs = {p: f.randn(C, scale=0.5) + 1.0 for p in params}
    for key, value in inputs.items():
        f.store(name, key, value)
    module = module.double()
    for step in range(steps + 1):
        training = step < steps
        module.train(training)
        prefix = f"step{step}/" if training else "eval/"
        x = f.randn(*shape, scale=1.5) + 0.3 * step
        f.store(name, prefix + "x", x)
        leaves = {"x": x.double().requires_grad_()}
        leaves.update({p: inputs[p].double().requires_grad_() for p in params})
        out = functional_call(module, {p: leaves[p] for p in params}, (leaves["x"],))
        f.derivatives(name, out, leaves, prefix=prefix)
        if step == steps - 1 and module.track_running_stats:
            f.store(name, "running_mean", module.running_mean)
            f.store(name, "running_var", module.running_var)
            f.store(name, "num_batches_tracked", module.num_batches_tracked.double())


def batch_norms(f):
    # One training step, with the Hessian-vector product.
    f.layer("batch_norm [7,5] train", nn.BatchNorm1d(C), f.randn(N, C, scale=2.0) + 1.0,
            params=("weight", "bias"))
    f.layer("batch_norm [7,5,3] train", nn.BatchNorm1d(C), f.randn(N, C, 3, scale=2.0),
            params=("weight", "bias"))
    # Running statistics over several steps, then eval mode with them.
    batch_norm_training(f, "batch_norm [7,5] steps", nn.BatchNorm1d(C), (N, C))
    batch_norm_training(f, "batch_norm [7,5,3] steps momentum 0.3 eps 1e-3",
                        nn.BatchNorm1d(C, eps=1e-3, momentum=0.3), (N, C, 3))
    batch_norm_training(f, "batch_norm [7,5] steps momentum None",
                        nn.BatchNorm1d(C, momentum=None), (N, C))
    batch_norm_training(f, "batch_norm [7,5] steps no affine", nn.BatchNorm1d(C, affine=False),
                        (N, C), affine=False)
    # Without running statistics, eval mode normalises with the batch's.
    batch_norm_training(f, "batch_norm [7,5] no running stats",
                        nn.BatchNorm1d(C, track_running_stats=False), (N, C), steps=1)


# -- losses ----------------------------------------------------------------------------------

REDUCTIONS = ("mean", "sum", "none")


def regression_losses(f):
    for reduction in REDUCTIONS:
        inputs = {"input": f.randn(N, C), "target": f.randn(N, C)}
        f.case(f"mse_loss {reduction}", inputs, ["input", "target"],
               lambda t, r=reduction: F.mse_loss(t["input"], t["target"], reduction=r))
        inputs = {"input": f.randn(N, C), "target": f.randn(N, C)}
        f.case(f"l1_loss {reduction}", inputs, ["input", "target"],
               lambda t, r=reduction: F.l1_loss(t["input"], t["target"], reduction=r))
    # Differences of both signs on both sides of beta/delta.
    for reduction, beta in (("mean", 1.0), ("none", 0.5), ("sum", 0.0)):
        inputs = {"input": f.randn(N, C, scale=1.5), "target": f.randn(N, C)}
        f.case(f"smooth_l1_loss {reduction} beta {beta:g}", inputs, ["input", "target"],
               lambda t, r=reduction, b=beta: F.smooth_l1_loss(t["input"], t["target"],
                                                               reduction=r, beta=b))
    for reduction, delta in (("mean", 1.0), ("none", 0.7), ("sum", 2.0)):
        inputs = {"input": f.randn(N, C, scale=1.5), "target": f.randn(N, C)}
        f.case(f"huber_loss {reduction} delta {delta:g}", inputs, ["input", "target"],
               lambda t, r=reduction, d=delta: F.huber_loss(t["input"], t["target"],
                                                            reduction=r, delta=d))
    # Gaussian NLL: var of the input's shape, without the last dim, and with size 1 there;
    # "tiny var" has entries below eps, clamped (the gradient passes the clamp).
    gaussian = (
        ("gaussian_nll_loss mean", (N, C), {}),
        ("gaussian_nll_loss none var [7]", (N,), {"reduction": "none"}),
        ("gaussian_nll_loss sum var [7,1] full", (N, 1), {"reduction": "sum", "full": True}),
        ("gaussian_nll_loss mean tiny var eps 1e-3", (N, C), {"eps": 1e-3}),
    )
    for name, var_shape, kwargs in gaussian:
        var = f.uniform(0.2, 2.0, *var_shape)
        if "tiny" in name:
            var[0, :3] = torch.tensor([0.0, 1e-5, 5e-4])
        inputs = {"input": f.randn(N, C), "target": f.randn(N, C), "var": var}
        f.case(name, inputs, ["input", "target", "var"],
               lambda t, k=kwargs: F.gaussian_nll_loss(t["input"], t["target"], t["var"], **k))


def with_ignored(target, positions, ignore_index):
    target = target.clone()
    target.view(-1)[list(positions)] = float(ignore_index)
    return target


def classification_losses(f):
    # cross_entropy with class indices.
    class_weight = f.uniform(0.3, 2.0, C)
    index_cases = (
        ("mean", {}, None),
        ("sum", {"reduction": "sum"}, None),
        ("none", {"reduction": "none"}, None),
        ("weight mean", {}, "weight"),
        ("weight none", {"reduction": "none"}, "weight"),
        ("ignore -100 mean", {}, -100),
        ("weight ignore 2 mean", {"ignore_index": 2}, 2),
        ("smoothing 0.1 mean", {"label_smoothing": 0.1}, None),
        ("smoothing 0.2 weight sum", {"label_smoothing": 0.2, "reduction": "sum"}, "weight"),
        ("smoothing 0.1 weight ignore none",
         {"label_smoothing": 0.1, "reduction": "none"}, -100),
        ("smoothing 0.1 weight ignore mean", {"label_smoothing": 0.1}, -100),
    )
    for suffix, kwargs, extra in index_cases:
        target = f.classes(C, N)
        if isinstance(extra, int):
            target = with_ignored(target, (1, 4), extra)
        inputs = {"input": f.randn(N, C, scale=2.0), "target": target}
        if extra == "weight" or "weight" in suffix:
            inputs["weight"] = class_weight
        f.case(f"cross_entropy indices {suffix}", inputs, ["input"],
               lambda t, k=kwargs: F.cross_entropy(t["input"], t["target"].long(),
                                                   weight=t.get("weight"), **k))
    # K-dimensional: input [7, 5, 3], target [7, 3].
    inputs = {"input": f.randn(N, C, 3, scale=2.0),
              "target": with_ignored(f.classes(C, N, 3), (2, 9), -100), "weight": class_weight}
    f.case("cross_entropy indices [7,5,3] weight ignore smoothing 0.1 mean", inputs, ["input"],
           lambda t: F.cross_entropy(t["input"], t["target"].long(), weight=t["weight"],
                                     label_smoothing=0.1))
    # Unbatched: input [5], target [].
    f.case("cross_entropy indices unbatched", {"input": f.randn(C), "target": f.classes(C)},
           ["input"], lambda t: F.cross_entropy(t["input"], t["target"].long()))

    # cross_entropy with class probabilities.
    probability_cases = (
        ("mean", {}, False, (N, C)),
        ("none", {"reduction": "none"}, False, (N, C)),
        ("weight smoothing 0.2 sum", {"label_smoothing": 0.2, "reduction": "sum"}, True, (N, C)),
        ("weight mean [7,5,3]", {}, True, (N, C, 3)),
    )
    for suffix, kwargs, weighted, shape in probability_cases:
        inputs = {"input": f.randn(*shape, scale=2.0), "target": f.probabilities(*shape)}
        if weighted:
            inputs["weight"] = class_weight
        f.case(f"cross_entropy probabilities {suffix}", inputs, ["input"],
               lambda t, k=kwargs: F.cross_entropy(t["input"], t["target"],
                                                   weight=t.get("weight"), **k))

    # nll_loss on log-probabilities.
    nll_cases = (
        ("mean", {}, False),
        ("weight mean", {}, True),
        ("weight ignore 3 none", {"reduction": "none", "ignore_index": 3}, True),
        ("sum", {"reduction": "sum"}, False),
    )
    for suffix, kwargs, weighted in nll_cases:
        inputs = {"input": torch.log_softmax(f.randn(N, C, scale=2.0), dim=1),
                  "target": with_ignored(f.classes(C, N), (0, 5), kwargs.get("ignore_index", -100))}
        if weighted:
            inputs["weight"] = class_weight
        f.case(f"nll_loss {suffix}", inputs, ["input"],
               lambda t, k=kwargs: F.nll_loss(t["input"], t["target"].long(),
                                              weight=t.get("weight"), **k))

    # binary_cross_entropy: probabilities away from 0 and 1, soft and hard targets.
    bce_cases = (
        ("mean soft", {}, None),
        ("sum hard", {"reduction": "sum"}, None),
        ("none weight [5]", {"reduction": "none"}, (C,)),
        ("mean weight [7,5]", {}, (N, C)),
    )
    for suffix, kwargs, weight_shape in bce_cases:
        target = f.uniform(0.0, 1.0, N, C)
        if "hard" in suffix:
            target = target.round()
        inputs = {"input": torch.sigmoid(f.randn(N, C, scale=2.0)), "target": target}
        if weight_shape:
            inputs["weight"] = f.uniform(0.3, 2.0, *weight_shape)
        f.case(f"binary_cross_entropy {suffix}", inputs, ["input"],
               lambda t, k=kwargs: F.binary_cross_entropy(t["input"], t["target"],
                                                          weight=t.get("weight"), **k))

    # binary_cross_entropy_with_logits, large logits included.
    logits_cases = (
        ("mean", {}, None, None),
        ("none pos_weight [5]", {"reduction": "none"}, None, (C,)),
        ("sum weight [7,5] pos_weight [5]", {"reduction": "sum"}, (N, C), (C,)),
        ("mean large logits pos_weight [5]", {}, None, (C,)),
    )
    for suffix, kwargs, weight_shape, pos_weight_shape in logits_cases:
        scale = 15.0 if "large" in suffix else 2.0
        inputs = {"input": f.randn(N, C, scale=scale), "target": f.uniform(0.0, 1.0, N, C)}
        if weight_shape:
            inputs["weight"] = f.uniform(0.3, 2.0, *weight_shape)
        if pos_weight_shape:
            inputs["pos_weight"] = f.uniform(0.3, 3.0, *pos_weight_shape)
        f.case(f"binary_cross_entropy_with_logits {suffix}", inputs, ["input"],
               lambda t, k=kwargs: F.binary_cross_entropy_with_logits(
                   t["input"], t["target"], weight=t.get("weight"),
                   pos_weight=t.get("pos_weight"), **k))


def main():
    fixture = Fixture(seed=5)
    activations(fixture)
    layer_norms(fixture)
    batch_norms(fixture)
    regression_losses(fixture)
    classification_losses(fixture)
    path = fixture.write()
    print(f"wrote {path}: {len(fixture.tensors)} tensors, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
