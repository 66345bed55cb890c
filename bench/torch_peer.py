"""PyTorch from Python, the scoreboard's out-of-process peer (bench/scoreboard/python_peer.cpp).

bench_scoreboard starts this script and drives it with one JSON object per line on stdin; each
gets one JSON line back on stdout. The models, losses and optimizers are those of the C++ side
(bench/scoreboard/cases.h), written the way a PyTorch user writes them (nn.Modules, F.mse_loss,
torch.optim). Requests:

    {"op": "hello"}                           -> {"torch": version, "python": version}
    {"op": "threads", "n": 2}                 -> {}   torch.set_num_threads, and OpenBLAS's
    {"op": "prepare", "case": {...}}          -> {}   builds the case's model, data, optimizer
    {"op": "time", "calls": 100}              -> {"seconds": s}   runs the case `calls` times
    {"op": "run", "name": "seed_steps", ...}  -> {"seconds": s}   one whole training run
    {"op": "reference", "dir": path}          -> {}   outputs, gradients, 10-step trajectory
    {"op": "quit"}

    python3 bench/torch_peer.py --memory BATCH IN HIDDEN FEATURES STEPS   (see memory())

A case is {"model": "multitask" | "ensemble" | "ensembles_k", "mode": "train" | "infer",
"batch": B, "inputs": I, "hidden": H, "features": F, "members": K}. Errors come back as
{"error": message}.
"""
import csv
import ctypes
import ctypes.util
import gzip
import json
import os
import platform
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def set_openblas_threads(n):
    """PyTorch's set_num_threads sets OpenMP's threads; Debian's PyTorch multiplies with
    OpenBLAS, whose own pool it leaves alone. The C++ side sets both, so this side does too."""
    for name in ("openblas", "openblasp-r0.3.21", "blas"):
        path = ctypes.util.find_library(name)
        if not path:
            continue
        try:
            library = ctypes.CDLL(path)
            library.openblas_set_num_threads(ctypes.c_int(n))
            return
        except (OSError, AttributeError):
            continue


class MultiTask(nn.Module):
    """The seed MultiTaskModel at any size: trunk I -> H -> F (ReLU between), three F -> 1 heads."""

    def __init__(self, inputs, hidden, features):
        super().__init__()
        self.shared_layers = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, features))
        self.task_specific_layers = nn.ModuleList([nn.Linear(features, 1) for _ in range(3)])

    def forward(self, x):
        h = self.shared_layers(x)
        return [layer(h) for layer in self.task_specific_layers]


def member(inputs, hidden):
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, 1))


class Ensemble(nn.Module):
    """The seed EnsembleModel at any size: members I -> H -> 1, the prediction their mean."""

    def __init__(self, members, inputs, hidden):
        super().__init__()
        self.models = nn.ModuleList([member(inputs, hidden) for _ in range(members)])

    def forward(self, x):
        return torch.stack([model(x) for model in self.models]).mean(dim=0)


class Case:
    """One benchmark case: model, data and optimizer, and the step or inference to time."""

    def __init__(self, spec):
        self.spec = spec
        kind, batch = spec["model"], spec["batch"]
        inputs, hidden = spec["inputs"], spec["hidden"]
        self.x = torch.randn(batch, inputs)
        if kind == "multitask":
            self.model = MultiTask(inputs, hidden, spec["features"])
            self.targets = [torch.randn(batch, 1) for _ in range(3)]
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01)
        elif kind == "ensemble":
            self.model = Ensemble(spec["members"], inputs, hidden)
            self.targets = [torch.randn(batch, 1)]
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01)
        elif kind == "ensembles_k":
            self.model = nn.ModuleList([member(inputs, hidden) for _ in range(spec["members"])])
            self.targets = [torch.randn(batch, 1)]
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        else:
            raise ValueError(f"unknown model '{kind}'")

    def outputs(self, x):
        kind = self.spec["model"]
        if kind == "multitask":
            return self.model(x)
        if kind == "ensemble":
            return [self.model(x)]
        return [torch.stack([m(x) for m in self.model])]

    def loss(self, outputs):
        kind = self.spec["model"]
        if kind == "multitask":
            return sum(F.mse_loss(out, y) for out, y in zip(outputs, self.targets))
        if kind == "ensemble":
            return F.mse_loss(outputs[0], self.targets[0])
        # The mean over members of each member's MSE: the stacked [K, B, 1] against y.
        return F.mse_loss(outputs[0], self.targets[0].expand_as(outputs[0]))

    def train_step(self):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.outputs(self.x))
        loss.backward()
        self.optimizer.step()
        return loss

    def run(self, calls):
        if self.spec["mode"] == "train":
            for _ in range(calls):
                self.train_step()
        else:
            with torch.no_grad():
                for _ in range(calls):
                    self.outputs(self.x)


def read_tensors(folder, stem):
    """The tensors bench_scoreboard wrote: stem.json lists [name, shape] in order, stem.bin
    holds them as float32, back to back."""
    with open(os.path.join(folder, stem + ".json")) as f:
        index = json.load(f)
    flat = np.fromfile(os.path.join(folder, stem + ".bin"), dtype=np.float32)
    tensors, offset = {}, 0
    for name, shape in index["tensors"]:
        count = int(np.prod(shape)) if shape else 1
        tensors[name] = torch.from_numpy(flat[offset:offset + count].copy()).reshape(shape)
        offset += count
    return index, tensors


def write_tensors(folder, stem, named):
    with open(os.path.join(folder, stem + ".json"), "w") as f:
        json.dump({"tensors": [[name, list(t.shape)] for name, t in named]}, f)
    flat = [t.detach().reshape(-1).numpy().astype(np.float32) for _, t in named]
    np.concatenate(flat).tofile(os.path.join(folder, stem + ".bin"))


def reference(folder):
    """From the parameters, input and targets in folder/input.*: the outputs, the gradients of
    one backward, and ten training steps (each step's loss, the parameters after the tenth),
    into folder/reference.*. Parameters arrive in the model's parameters() order."""
    index, tensors = read_tensors(folder, "input")
    case = Case(index["case"])
    parameters = list(case.model.parameters())
    names = [name for name, _ in index["tensors"] if name.startswith("param.")]
    if len(names) != len(parameters):
        raise ValueError(f"{len(names)} parameters sent, the model has {len(parameters)}")
    with torch.no_grad():
        for p, name in zip(parameters, names):
            p.copy_(tensors[name])
    case.x = tensors["x"]
    case.targets = [tensors[f"target.{t}"] for t in range(len(case.targets))]
    out = []
    outputs = case.outputs(case.x)
    out += [(f"output.{t}", o) for t, o in enumerate(outputs)]
    case.optimizer.zero_grad(set_to_none=True)
    case.loss(outputs).backward()
    out += [("grad." + name[len("param."):], p.grad) for name, p in zip(names, parameters)]
    case.optimizer.zero_grad(set_to_none=True)
    losses = torch.stack([case.train_step().detach() for _ in range(10)])
    out.append(("losses", losses))
    out += [("step10." + name[len("param."):], p) for name, p in zip(names, parameters)]
    write_tensors(folder, "reference", out)


def seed_steps(steps):
    """The seed MultiTaskModel trained `steps` SGD steps on one batch of 10."""
    torch.manual_seed(0)
    model = MultiTask(10, 50, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(10, 10)
    targets = [torch.randn(10, 1) for _ in range(3)]
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        outputs = model(x)
        loss = sum(F.mse_loss(out, y) for out, y in zip(outputs, targets))
        loss.backward()
        optimizer.step()


def shuffled_batches(rows, batch, epochs):
    """The row numbers of each batch of `batch` rows, for `epochs` passes over `rows` rows in a
    new order each epoch (randperm)."""
    for _ in range(epochs):
        order = torch.randperm(rows)
        for start in range(0, rows, batch):
            yield order[start:start + batch]


def deep_ensemble(members, epochs, rows, batch):
    """`members` nets 10 -> 50 -> 1 trained one after another by Adam (lr 1e-3) on MSE, for
    `epochs` epochs over `rows` rows in batches of `batch`, reshuffled every epoch."""
    torch.manual_seed(0)
    x = torch.randn(rows, 10)
    y = x[:, :1] * 2 - x[:, 1:2] + 0.1 * torch.randn(rows, 1)
    for _ in range(members):
        net = member(10, 50)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        for index in shuffled_batches(rows, batch, epochs):
            optimizer.zero_grad(set_to_none=True)
            F.mse_loss(net(x[index]), y[index]).backward()
            optimizer.step()


def read_digits():
    """scikit-learn's digits from data/digits.csv.gz, as the whole runs train on them: the pixels
    standardised per column over all rows (a constant column is only centred), the digit as a
    class index [N], odd and high [N, 1]."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "digits.csv.gz")
    with gzip.open(path, "rt", newline="") as f:
        reader = csv.reader(f)
        columns = next(reader)
        if len(columns) != 67 or columns[64:] != ["digit", "odd", "high"]:
            raise ValueError(f"{path}: expected 64 pixel columns, then digit, odd and high")
        values = torch.tensor([[float(field) for field in row] for row in reader])
    pixels = values[:, :64]
    spread = pixels.std(dim=0, unbiased=False)
    spread[spread == 0] = 1
    x = (pixels - pixels.mean(dim=0)) / spread
    return x, values[:, 64].long(), values[:, 65:66].contiguous(), values[:, 66:67].contiguous()


def digits_multitask(digits, epochs, batch):
    """A trunk 64 -> 64 -> 64 (ReLU after each layer) with heads for the digit (10 logits), odd
    and high (one logit each), trained by Adam (lr 1e-3) on the sum of the three losses, for
    `epochs` epochs in batches of `batch`, reshuffled every epoch."""
    x, digit, odd, high = digits
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
    digit_head, odd_head, high_head = nn.Linear(64, 10), nn.Linear(64, 1), nn.Linear(64, 1)
    parameters = [p for part in (trunk, digit_head, odd_head, high_head) for p in part.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    rows = x.shape[0]
    for index in shuffled_batches(rows, batch, epochs):
        optimizer.zero_grad(set_to_none=True)
        h = trunk(x[index])
        loss = (F.cross_entropy(digit_head(h), digit[index])
                + F.binary_cross_entropy_with_logits(odd_head(h), odd[index])
                + F.binary_cross_entropy_with_logits(high_head(h), high[index]))
        loss.backward()
        optimizer.step()


def digits_ensemble(digits, members, epochs, batch):
    """`members` nets 64 -> 64 -> 64 -> 10 (ReLU between) trained one after another by Adam
    (lr 1e-3) on the digit's cross entropy, for `epochs` epochs in batches of `batch`,
    reshuffled every epoch."""
    x, digit, _, _ = digits
    torch.manual_seed(0)
    rows = x.shape[0]
    for _ in range(members):
        net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        for index in shuffled_batches(rows, batch, epochs):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(x[index]), digit[index]).backward()
            optimizer.step()


def handle(request, state):
    op = request["op"]
    if op == "hello":
        return {"torch": torch.__version__, "python": platform.python_version()}
    if op == "threads":
        torch.set_num_threads(request["n"])
        set_openblas_threads(request["n"])
        return {}
    if op == "prepare":
        torch.manual_seed(0)
        state["case"] = Case(request["case"])
        return {}
    if op == "time":
        case = state["case"]
        start = time.perf_counter()
        case.run(request["calls"])
        return {"seconds": time.perf_counter() - start}
    if op == "run":
        name = request["name"]
        # Read before the clock starts: the runs time training, not parsing.
        digits = read_digits() if name.startswith("digits_") else None
        start = time.perf_counter()
        if name == "seed_steps":
            seed_steps(request["steps"])
        elif name == "deep_ensemble":
            deep_ensemble(request["members"], request["epochs"], request["rows"], request["batch"])
        elif name == "digits_multitask":
            digits_multitask(digits, request["epochs"], request["batch"])
        elif name == "digits_ensemble":
            digits_ensemble(digits, request["members"], request["epochs"], request["batch"])
        else:
            raise ValueError(f"unknown run '{request['name']}'")
        return {"seconds": time.perf_counter() - start}
    if op == "reference":
        reference(request["dir"])
        return {}
    raise ValueError(f"unknown op '{op}'")


def memory(batch, inputs, hidden, features, steps):
    """The peak-memory child of bench_scoreboard's memory section: the multitask case trained
    `steps` SGD steps on one thread; prints ru_maxrss (KiB) before the model and at the end."""
    torch.set_num_threads(1)
    set_openblas_threads(1)
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    spec = {"model": "multitask", "mode": "train", "batch": batch, "inputs": inputs,
            "hidden": hidden, "features": features, "members": 1}
    case = Case(spec)
    for _ in range(steps):
        case.train_step()
    print(json.dumps({"start_kb": start, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def main():
    if len(sys.argv) == 7 and sys.argv[1] == "--memory":
        memory(*(int(a) for a in sys.argv[2:]))
        return
    state = {}
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "quit":
            break
        try:
            reply = handle(request, state)
        except Exception as error:  # reported to the C++ side, which prints it
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
