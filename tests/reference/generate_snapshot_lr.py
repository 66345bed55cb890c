#!/usr/bin/env python3
"""Learning rates of a snapshot ensemble's schedule, from PyTorch 1.13's
CosineAnnealingWarmRestarts stepped once per iteration (Huang et al. 2017), for
tests/test_ensemble_training.cpp. Writes snapshot_lr.json beside this script; run with
Debian's python3-torch 1.13 (/usr/bin/python3).

The case: 40 samples in batches of 8 (5 iterations per epoch), 6 epochs, 3 members, so
T = 30 iterations and T_0 = ceil(T / M) = 10; base lr α0 = 0.1. Each iteration's lr is the
one the optimizer steps with (read before scheduler.step()). The paper's formula
α(t) = α0/2 (cos(π mod(t-1, ceil(T/M)) / ceil(T/M)) + 1) is checked against it here too.
"""

import json
import math
import os

import torch

ITERATIONS, CYCLES, BASE_LR = 30, 3, 0.1

parameter = torch.nn.Parameter(torch.zeros(1))
optimizer = torch.optim.SGD([parameter], lr=BASE_LR)
period = math.ceil(ITERATIONS / CYCLES)
scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=period)
lrs = []
for _ in range(ITERATIONS):
    lrs.append(optimizer.param_groups[0]["lr"])
    optimizer.step()
    scheduler.step()

for t, lr in enumerate(lrs, start=1):
    paper = BASE_LR / 2 * (math.cos(math.pi * ((t - 1) % period) / period) + 1)
    assert abs(paper - lr) <= 1e-12 * BASE_LR, (t, paper, lr)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "snapshot_lr.json")
with open(path, "w") as file:
    json.dump({"torch_version": torch.__version__, "samples": 40, "batch_size": 8,
               "epochs": 6, "members": CYCLES, "base_lr": BASE_LR, "lrs": lrs}, file, indent=1)
    file.write("\n")
