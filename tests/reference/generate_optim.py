#!/usr/bin/env python3
"""Writes optim.safetensors: PyTorch's trajectories that tests/test_optim.cpp and
tests/test_schedulers.cpp check ember's optimizers, schedulers and gradient clipping against.

Run from anywhere (needs torch 1.13, e.g. Debian's python3-torch):
    /usr/bin/python3 tests/reference/generate_optim.py

Training cases. A small tanh network on a fixed batch,

    loss = mean((tanh(x @ w1 + b1) @ w2 + b2 - y)^2)      x [6, 5], y [6, 2]

with parameters w1 [5, 3], b1 [3], w2 [3, 2], b2 [2], and `unused` [4], which the loss
never touches (its gradient stays None, so every optimizer must skip it). The parameters
form two groups, [w1, b1] and [w2, b2, unused]. Each case trains 10 steps:

    zero_grad(set_to_none=True); loss.backward(); [clip]; optimizer.step(); [scheduler.step()]

and stores, for each parameter p, "<case>/<p>": the values after every step, [10, *shape];
"<case>/lr": the lr of each group used at every step, [10, 2]; and for gradient-norm
clipping "<case>/total_norm": what clip_grad_norm_ returned, [10]. "model/<p>", "model/x"
and "model/y" hold the starting point.

Scheduler cases. A scheduler drives a two-group optimizer (lrs 0.1 and 0.05) for N steps
with no training; "sched/<case>/lr" is [N + 1, 2]: the groups' lrs after construction and
after every step; "sched/<case>/momentum" the groups' momentum (or Adam's beta1) for the
cases that cycle it; "sched/<case>/metric" [N] the metric fed to ReduceLROnPlateau.

The metadata key "cases" is a JSON object {"training": [...], "schedulers": [...]}
describing every case; the C++ tests build the same configurations by hand and check
they cover every case listed. Everything is float32 as PyTorch computes it (the reference
is PyTorch's own float32 trajectory); the output is byte-identical run to run.
"""

import json
import os
import sys
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save  # noqa: E402  (written beside this file)

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 10
PARAM_NAMES = ["w1", "b1", "w2", "b2", "unused"]
PARAM_SHAPES = {"w1": (5, 3), "b1": (3,), "w2": (3, 2), "b2": (2,), "unused": (4,)}

OPTIMIZERS = {
    "SGD": torch.optim.SGD,
    "Adam": torch.optim.Adam,
    "AdamW": torch.optim.AdamW,
    "RMSprop": torch.optim.RMSprop,
    "Adagrad": torch.optim.Adagrad,
}

# name, optimizer, options for both groups, per-group overrides, scheduler, clipping.
TRAINING_CASES = [
    {"name": "sgd_nesterov_weight_decay", "optimizer": "SGD",
     "options": {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
     "groups": [{}, {"lr": 0.05}]},
    {"name": "sgd_nesterov_weight_decay_steplr", "optimizer": "SGD",
     "options": {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
     "groups": [{}, {"lr": 0.05}],
     "scheduler": {"type": "StepLR", "step_size": 3, "gamma": 0.5}},
    {"name": "sgd_dampening", "optimizer": "SGD",
     "options": {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}},
    {"name": "sgd_dampening_onecycle", "optimizer": "SGD",
     "options": {"lr": 0.05, "momentum": 0.8, "dampening": 0.3},
     "scheduler": {"type": "OneCycleLR", "max_lr": [0.2, 0.1], "total_steps": 10}},
    {"name": "sgd_maximize", "optimizer": "SGD",
     "options": {"lr": 0.02, "weight_decay": 0.1, "maximize": True}},
    {"name": "adam", "optimizer": "Adam", "options": {"lr": 0.01}},
    {"name": "adam_amsgrad_weight_decay", "optimizer": "Adam",
     "options": {"lr": 0.01, "betas": [0.8, 0.99], "amsgrad": True, "weight_decay": 0.1},
     "groups": [{}, {"lr": 0.02}]},
    {"name": "adam_onecycle", "optimizer": "Adam", "options": {"lr": 0.01},
     "scheduler": {"type": "OneCycleLR", "max_lr": 0.05, "total_steps": 12}},
    {"name": "adamw", "optimizer": "AdamW", "options": {"lr": 0.01}},
    {"name": "adamw_amsgrad_maximize_cosine", "optimizer": "AdamW",
     "options": {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "maximize": True},
     "groups": [{}, {"lr": 0.005}],
     "scheduler": {"type": "CosineAnnealingLR", "T_max": 4, "eta_min": 0.001}},
    {"name": "rmsprop_centered_momentum", "optimizer": "RMSprop",
     "options": {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.01}},
    {"name": "rmsprop_centered_momentum_linearlr", "optimizer": "RMSprop",
     "options": {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.01},
     "groups": [{}, {"lr": 0.003}],
     "scheduler": {"type": "LinearLR", "start_factor": 0.25, "total_iters": 4}},
    {"name": "rmsprop_maximize", "optimizer": "RMSprop",
     "options": {"lr": 0.001, "alpha": 0.9, "maximize": True}},
    {"name": "adagrad_lr_decay", "optimizer": "Adagrad",
     "options": {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.01,
                 "initial_accumulator_value": 0.1}},
    {"name": "adagrad_lr_decay_exponentiallr", "optimizer": "Adagrad",
     "options": {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.01,
                 "initial_accumulator_value": 0.1},
     "groups": [{}, {"lr": 0.2}],
     "scheduler": {"type": "ExponentialLR", "gamma": 0.8}},
    {"name": "sgd_clip_norm", "optimizer": "SGD", "options": {"lr": 0.1, "momentum": 0.5},
     "clip": {"type": "norm", "max_norm": 0.05, "norm_type": 2.0}},
    {"name": "sgd_clip_norm_inf", "optimizer": "SGD", "options": {"lr": 0.1},
     "clip": {"type": "norm", "max_norm": 0.02, "norm_type": "inf"}},
    {"name": "sgd_clip_norm_p3", "optimizer": "SGD", "options": {"lr": 0.1},
     "clip": {"type": "norm", "max_norm": 0.03, "norm_type": 3.0}},
    {"name": "sgd_clip_value", "optimizer": "SGD", "options": {"lr": 0.1},
     "clip": {"type": "value", "clip_value": 0.01}},
]

PLATEAU_MIN_METRICS = [1.0, 0.8, 0.7, 0.69995, 0.7, 0.71, 0.69, 0.69, 0.69, 0.69,
                       0.65, 0.66, 0.66, 0.66, 0.66, 0.66, 0.5, 0.5, 0.5, 0.5,
                       0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
                       0.4, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
PLATEAU_MAX_METRICS = [0.1, 0.2, 0.22, 0.3, 0.31, 0.33, 0.33, 0.5, 0.52, 0.52,
                       0.52, 0.6, 0.6, 0.7, 0.71, 0.72, 0.73, 0.74, 0.9, 0.9,
                       0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9,
                       0.96, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]

# name, optimizer ("SGD" with momentum 0.9, or "Adam"), schedulers stepped in order, steps.
SCHEDULER_CASES = [
    {"name": "steplr", "schedulers": [{"type": "StepLR", "step_size": 7, "gamma": 0.5}],
     "steps": 40},
    {"name": "multisteplr",
     "schedulers": [{"type": "MultiStepLR", "milestones": [3, 8, 8, 20], "gamma": 0.3}],
     "steps": 35},
    {"name": "exponentiallr", "schedulers": [{"type": "ExponentialLR", "gamma": 0.9}],
     "steps": 35},
    {"name": "cosineannealinglr",
     "schedulers": [{"type": "CosineAnnealingLR", "T_max": 10, "eta_min": 0.001}],
     "steps": 45},
    {"name": "cosineannealingwarmrestarts",
     "schedulers": [{"type": "CosineAnnealingWarmRestarts", "T_0": 5, "T_mult": 2,
                     "eta_min": 0.0005}],
     "steps": 40},
    {"name": "cosineannealingwarmrestarts_tmult1",
     "schedulers": [{"type": "CosineAnnealingWarmRestarts", "T_0": 7}], "steps": 35},
    {"name": "linearlr",
     "schedulers": [{"type": "LinearLR", "start_factor": 0.25, "total_iters": 8}],
     "steps": 35},
    {"name": "linearlr_decay",
     "schedulers": [{"type": "LinearLR", "start_factor": 1.0, "end_factor": 0.1,
                     "total_iters": 10}],
     "steps": 35},
    {"name": "onecycle_cos", "schedulers": [{"type": "OneCycleLR", "max_lr": [0.5, 0.2],
                                             "total_steps": 40}],
     "steps": 40, "momentum": True},
    {"name": "onecycle_linear_three_phase_adam", "optimizer": "Adam",
     "schedulers": [{"type": "OneCycleLR", "max_lr": 0.3, "epochs": 4, "steps_per_epoch": 10,
                     "anneal_strategy": "linear", "three_phase": True,
                     "base_momentum": [0.8, 0.85], "max_momentum": 0.9,
                     "div_factor": 10.0, "final_div_factor": 100.0, "pct_start": 0.25}],
     "steps": 40, "momentum": True},
    {"name": "warmup_then_cosine",
     "schedulers": [{"type": "LinearLR", "start_factor": 0.1, "total_iters": 5},
                    {"type": "CosineAnnealingLR", "T_max": 30}],
     "steps": 35},
    {"name": "plateau_min_rel",
     "schedulers": [{"type": "ReduceLROnPlateau", "factor": 0.5, "patience": 2, "cooldown": 1,
                     "min_lr": [0.01, 0.02]}],
     "metrics": PLATEAU_MIN_METRICS, "steps": len(PLATEAU_MIN_METRICS)},
    {"name": "plateau_max_abs",
     "schedulers": [{"type": "ReduceLROnPlateau", "mode": "max", "threshold_mode": "abs",
                     "threshold": 0.05, "patience": 1, "factor": 0.2}],
     "metrics": PLATEAU_MAX_METRICS, "steps": len(PLATEAU_MAX_METRICS)},
]


def make_scheduler(optimizer, spec):
    args = {k: v for k, v in spec.items() if k != "type"}
    return getattr(torch.optim.lr_scheduler, spec["type"])(optimizer, **args)


def model_tensors():
    g = torch.Generator().manual_seed(2024)
    tensors = {name: torch.randn(PARAM_SHAPES[name], generator=g) * 0.5 for name in PARAM_NAMES}
    tensors["x"] = torch.randn(6, 5, generator=g)
    tensors["y"] = torch.randn(6, 2, generator=g)
    return tensors


def run_training_case(case, start):
    params = {name: start[name].clone().requires_grad_() for name in PARAM_NAMES}
    x, y = start["x"], start["y"]
    groups = [{"params": [params["w1"], params["b1"]]},
              {"params": [params["w2"], params["b2"], params["unused"]]}]
    for group, overrides in zip(groups, case.get("groups", [{}, {}])):
        group.update(overrides)
    options = dict(case["options"])
    if "betas" in options:
        options["betas"] = tuple(options["betas"])
    optimizer = OPTIMIZERS[case["optimizer"]](groups, foreach=False, **options)
    scheduler = make_scheduler(optimizer, case["scheduler"]) if "scheduler" in case else None
    trajectory = {name: [] for name in PARAM_NAMES}
    lrs, norms = [], []
    everything = [params[name] for name in PARAM_NAMES]
    for _ in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        hidden = torch.tanh(x @ params["w1"] + params["b1"])
        loss = ((hidden @ params["w2"] + params["b2"] - y) ** 2).mean()
        loss.backward()
        clip = case.get("clip")
        if clip and clip["type"] == "norm":
            norm_type = float(clip["norm_type"])
            norms.append(torch.nn.utils.clip_grad_norm_(everything, clip["max_norm"], norm_type))
        elif clip:
            torch.nn.utils.clip_grad_value_(everything, clip["clip_value"])
        lrs.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        if scheduler:
            scheduler.step()
        for name in PARAM_NAMES:
            trajectory[name].append(params[name].detach().clone())
    assert params["unused"].grad is None
    out = {f"{case['name']}/{name}": torch.stack(values) for name, values in trajectory.items()}
    out[f"{case['name']}/lr"] = torch.tensor(lrs, dtype=torch.float32)
    if norms:
        out[f"{case['name']}/total_norm"] = torch.stack(norms).float()
    return out


def momentum_of(optimizer):
    return [group["betas"][0] if "betas" in group else group["momentum"]
            for group in optimizer.param_groups]


def run_scheduler_case(case):
    weights = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    groups = [{"params": [weights[0]], "lr": 0.1}, {"params": [weights[1]], "lr": 0.05}]
    if case.get("optimizer") == "Adam":
        optimizer = torch.optim.Adam(groups, foreach=False)
    else:
        optimizer = torch.optim.SGD(groups, lr=0.1, momentum=0.9, foreach=False)
    schedulers = [make_scheduler(optimizer, spec) for spec in case["schedulers"]]
    lrs = [[group["lr"] for group in optimizer.param_groups]]
    momenta = [momentum_of(optimizer)]
    for step in range(case["steps"]):
        optimizer.step()
        for scheduler in schedulers:
            if "metrics" in case:
                scheduler.step(case["metrics"][step])
            else:
                scheduler.step()
        lrs.append([group["lr"] for group in optimizer.param_groups])
        momenta.append(momentum_of(optimizer))
    prefix = f"sched/{case['name']}/"
    out = {prefix + "lr": torch.tensor(lrs, dtype=torch.float32)}
    if case.get("momentum"):
        out[prefix + "momentum"] = torch.tensor(momenta, dtype=torch.float32)
    if "metrics" in case:
        out[prefix + "metric"] = torch.tensor(case["metrics"], dtype=torch.float32)
    return out


def main():
    warnings.filterwarnings("ignore")  # "lr_scheduler.step() before optimizer.step()", ...
    torch.set_num_threads(1)
    start = model_tensors()
    tensors = {f"model/{name}": value for name, value in start.items()}
    for case in TRAINING_CASES:
        tensors.update(run_training_case(case, start))
    for case in SCHEDULER_CASES:
        tensors.update(run_scheduler_case(case))
    metadata = {
        "cases": json.dumps({"training": TRAINING_CASES, "schedulers": SCHEDULER_CASES}),
        "torch_version": torch.__version__,
    }
    path = os.path.join(HERE, "optim.safetensors")
    save(path, tensors, metadata)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
