#!/usr/bin/env python3
"""Writes mtl_architectures.safetensors: PyTorch references for ember's MMoE and PLE
(tests/test_mtl_architectures.cpp).

Run from anywhere (needs torch >= 1.13):  python3 tests/reference/generate_mtl_architectures.py

The same tiny networks are built here in PyTorch, module for module, so that their
named_parameters() are the names ember must use:
  MMoE (Ma et al. 2018): inputs 5, 3 experts Linear(5, 4)-ReLU, a Linear(5, 3) gate per task,
    towers Linear(4, 3)-ReLU-Linear(3, out); tasks "y" (regression), "c" (3 classes).
  PLE (Tang et al. 2020): inputs 5, 2 extraction layers, 2 experts per task and 1 shared
    expert per layer, experts Linear(in, 4)-ReLU, towers Linear(4, out); tasks "y"
    (regression), "b" (binary), "c" (3 classes). The shared gate lists the experts task by
    task, then the shared ones.

For each model "<m>" (mmoe, ple), with PyTorch's default initialisation under a fixed seed:
  <m>/param/<name>, <m>/grad/<name>   parameters and d(L)/d(parameter)
  <m>/x, <m>/x_grad                   a [6, 5] batch and d(L)/dx
  <m>/out<k>, <m>/v<k>                task k's output and the fixed upstream gradient v_k
  mmoe/gate<k>                        task k's gate softmax(W_k x + b_k)   [6, 3]
  ple/gate<j>_<i>                     layer j's gate i (tasks in order, then the shared one)
with L = Σ_k sum(out_k · v_k). Metadata "<m>/names" lists named_parameters() in order.
Everything is evaluated in float64 from the float32 parameters and inputs, and rounded once.
"""
import copy
import json
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from safetensors_io import save  # noqa: E402


def mlp(inputs, widths):
    layers = []
    for width in widths:
        layers += [nn.Linear(inputs, width), nn.ReLU()]
        inputs = width
    return layers


def tower(inputs, hidden, outputs):
    layers = mlp(inputs, hidden)
    layers.append(nn.Linear(hidden[-1] if hidden else inputs, outputs))
    return nn.Sequential(*layers)


def mix(gate, experts):
    """Σ_i gate[:, i] · experts[i]."""
    return torch.einsum("be,bew->bw", gate, torch.stack(experts, dim=1))


class MMoE(nn.Module):
    def __init__(self, inputs, experts, expert_hidden, tower_hidden, tasks):
        super().__init__()
        self.experts = nn.ModuleList(nn.Sequential(*mlp(inputs, expert_hidden))
                                     for _ in range(experts))
        self.gates = nn.ModuleDict({name: nn.Linear(inputs, experts) for name, _ in tasks})
        self.towers = nn.ModuleDict({name: tower(expert_hidden[-1], tower_hidden, out)
                                     for name, out in tasks})

    def gate_weights(self, x):
        return [torch.softmax(gate(x), dim=-1) for gate in self.gates.values()]

    def forward(self, x):
        experts = [expert(x) for expert in self.experts]
        return [tower(mix(gate, experts))
                for gate, tower in zip(self.gate_weights(x), self.towers.values())]


class ExtractionLayer(nn.Module):
    def __init__(self, inputs, names, per_task, shared, expert_hidden, last):
        super().__init__()
        self.task_experts = nn.ModuleDict({
            name: nn.ModuleList(nn.Sequential(*mlp(inputs, expert_hidden))
                                for _ in range(per_task)) for name in names})
        self.shared_experts = nn.ModuleList(nn.Sequential(*mlp(inputs, expert_hidden))
                                            for _ in range(shared))
        self.task_gates = nn.ModuleDict({name: nn.Linear(inputs, per_task + shared)
                                         for name in names})
        self.shared_gate = None if last else nn.Linear(inputs, len(names) * per_task + shared)

    def forward(self, task_inputs, shared_input):
        shared = [e(shared_input) for e in self.shared_experts]
        outputs, gates, every = [], [], []
        for h, experts, gate in zip(task_inputs, self.task_experts.values(),
                                    self.task_gates.values()):
            own = [e(h) for e in experts]
            every += own
            g = torch.softmax(gate(h), dim=-1)
            outputs.append(mix(g, own + shared))
            gates.append(g)
        shared_output = None
        if self.shared_gate is not None:
            g = torch.softmax(self.shared_gate(shared_input), dim=-1)
            shared_output = mix(g, every + shared)
            gates.append(g)
        return outputs, shared_output, gates


class PLE(nn.Module):
    def __init__(self, inputs, layers, per_task, shared, expert_hidden, tower_hidden, tasks):
        super().__init__()
        names = [name for name, _ in tasks]
        self.layers = nn.ModuleList(
            ExtractionLayer(inputs if j == 0 else expert_hidden[-1], names, per_task, shared,
                            expert_hidden, j + 1 == layers) for j in range(layers))
        self.towers = nn.ModuleDict({name: tower(expert_hidden[-1], tower_hidden, out)
                                     for name, out in tasks})

    def run(self, x):
        hs, shared, all_gates = [x] * len(self.towers), x, []
        for layer in self.layers:
            hs, shared, gates = layer(hs, shared)
            all_gates.append(gates)
        return [tower(h) for h, tower in zip(hs, self.towers.values())], all_gates

    def forward(self, x):
        return self.run(x)[0]


def record(model, name, x, tensors, metadata):
    exact = copy.deepcopy(model).double()
    x64 = x.double().requires_grad_(True)
    outputs = exact(x64)
    loss = 0
    for k, out in enumerate(outputs):
        v = torch.randn(out.shape)
        tensors[f"{name}/v{k}"] = v
        tensors[f"{name}/out{k}"] = out.detach().float()
        loss = loss + (out * v.double()).sum()
    loss.backward()
    tensors[f"{name}/x"] = x
    tensors[f"{name}/x_grad"] = x64.grad.float()
    for (pname, p), (_, p64) in zip(model.named_parameters(), exact.named_parameters()):
        tensors[f"{name}/param/{pname}"] = p.detach().clone()
        tensors[f"{name}/grad/{pname}"] = p64.grad.float()
    metadata[f"{name}/names"] = json.dumps([pname for pname, _ in model.named_parameters()])
    return exact


def main():
    tensors, metadata = {}, {}

    torch.manual_seed(0)
    mmoe = MMoE(5, 3, [4], [3], [("y", 1), ("c", 3)])
    exact = record(mmoe, "mmoe", torch.randn(6, 5), tensors, metadata)
    with torch.no_grad():
        for k, gate in enumerate(exact.gate_weights(tensors["mmoe/x"].double())):
            tensors[f"mmoe/gate{k}"] = gate.float()

    torch.manual_seed(1)
    ple = PLE(5, 2, 2, 1, [4], [], [("y", 1), ("b", 1), ("c", 3)])
    exact = record(ple, "ple", torch.randn(6, 5), tensors, metadata)
    with torch.no_grad():
        for j, gates in enumerate(exact.run(tensors["ple/x"].double())[1]):
            for i, gate in enumerate(gates):
                tensors[f"ple/gate{j}_{i}"] = gate.float()

    metadata["generated_by"] = f"PyTorch {torch.__version__}"
    path = os.path.join(HERE, "mtl_architectures.safetensors")
    save(path, tensors, metadata)
    print(f"{path}: {os.path.getsize(path)} bytes, {len(tensors)} tensors")


if __name__ == "__main__":
    main()
