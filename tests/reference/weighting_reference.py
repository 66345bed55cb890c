"""Expected values of tests/test_weighting.cpp, from PyTorch 1.13 (Debian's python3-torch).

Run: /usr/bin/python3 tests/reference/weighting_reference.py; the test quotes the printed numbers.
Each block restates a method's formula in PyTorch, independently of ember's code.
"""
import math

import torch

torch.set_printoptions(precision=9)

# Uncertainty weighting (Kendall et al. 2018): regression ½ exp(-s) L + ½ s, classification
# exp(-s) L + ½ s; s = (0.3, -0.7), L = (2.0, 0.5).
s = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
L = torch.tensor([2.0, 0.5], dtype=torch.float64, requires_grad=True)
c = torch.tensor([0.5, 1.0], dtype=torch.float64)
(c * torch.exp(-s) * L + 0.5 * s).sum().backward()
print("uncertainty ds", s.grad.tolist(), "dL", L.grad.tolist(),
      "sigma", torch.exp(s / 2).tolist())

# DWA (Liu et al. 2019), T = 2: epoch means (1, 2), then (0.5, 1.8).
r = torch.tensor([0.5 / 1.0, 1.8 / 2.0], dtype=torch.float64)
print("dwa", (2 * torch.softmax(r / 2, 0)).tolist())

# FAMO, the authors' update (github.com/Cranial-XIX/FAMO, famo.py) with lr 0.025 and
# weight decay 1e-3: step 1 losses (2, 1) -> (1, 1); step 2 losses (1, 1) -> (1, 1).
w = torch.zeros(2, requires_grad=True)
opt = torch.optim.Adam([w], lr=0.025, weight_decay=1e-3)
for before, after in [([2.0, 1.0], [1.0, 1.0]), ([1.0, 1.0], [1.0, 1.0])]:
    losses = torch.tensor(before, requires_grad=True)
    z = torch.softmax(w, -1)
    D = losses + 1e-8
    cc = (z / D).sum().detach()
    (D.log() * z.detach() / cc).sum().backward()
    delta = (torch.tensor(before) + 1e-8).log() - (torch.tensor(after) + 1e-8).log()
    d = torch.autograd.grad(torch.softmax(w, -1), w, grad_outputs=delta)[0]
    opt.zero_grad()
    w.grad = d
    opt.step()
    print("famo dL", losses.grad.tolist(), "logits", w.tolist())
