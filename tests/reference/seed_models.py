"""The seed's two models in PyTorch, exactly as ember's models/seed.h translates them.

Shared by the fixture generator (generate_models.py) and the interop check
(check_ember_checkpoint.py).
"""
import torch
from torch import nn


class MultiTaskModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared_layers = nn.Sequential(nn.Linear(10, 50), nn.ReLU(), nn.Linear(50, 10))
        self.task_specific_layers = nn.ModuleList([nn.Linear(10, 1) for _ in range(3)])

    def forward(self, x):
        h = self.shared_layers(x)
        return [layer(h) for layer in self.task_specific_layers]


class EnsembleModel(nn.Module):
    def __init__(self, num_models=3):
        super().__init__()
        self.models = nn.ModuleList(
            [nn.Sequential(nn.Linear(10, 50), nn.ReLU(), nn.Linear(50, 1)) for _ in range(num_models)])

    def forward(self, x):
        return torch.stack([model(x) for model in self.models]).mean(dim=0)
