#!/usr/bin/env python3
"""Writes the PyTorch fixtures for the seed models (tests/test_seed_models.cpp).

Run from anywhere (needs torch >= 1.13):  python3 tests/reference/generate_models.py

models.safetensors, for each of "multitask" and "ensemble":
  <model>/param/<name>   PyTorch's default-initialised parameters, under PyTorch's names
  <model>/grad/<name>    d(loss)/d(parameter)
  <model>/x              a [7, 10] batch; <model>/target<i> the regression targets
  <model>/out<i>         the model's outputs; <model>/loss the loss
The multi-task loss is the sum over the three tasks of the mean squared error; the
ensemble's is the mean squared error of the averaged prediction. Metadata "<model>/names"
lists named_parameters() in PyTorch's order.

trained_multitask.safetensors: a MultiTaskModel trained in PyTorch for 200 SGD steps, saved
under its plain state-dict names (as ember's Module::load expects), and in models.safetensors
"trained/x" with "trained/out<i>", its predictions on a held-out batch.
"""
import copy
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from safetensors_io import save  # noqa: E402
from seed_models import EnsembleModel, MultiTaskModel  # noqa: E402


def record(model, name, x, targets, tensors, metadata):
    """Stores parameters, the batch, outputs, loss and gradients of one model.

    The float32 parameters and inputs are evaluated in float64 (a copy of the model), so the
    stored results carry only the final rounding to float32.
    """
    exact = copy.deepcopy(model).double()
    outputs = exact(x.double())
    if isinstance(outputs, torch.Tensor):
        outputs = [outputs]
    loss = sum(torch.nn.functional.mse_loss(out, t.double()) for out, t in zip(outputs, targets))
    loss.backward()
    tensors[f"{name}/x"] = x
    for i, (out, t) in enumerate(zip(outputs, targets)):
        tensors[f"{name}/out{i}"] = out.detach().float()
        tensors[f"{name}/target{i}"] = t
    tensors[f"{name}/loss"] = loss.detach().float()
    for (pname, p), (_, p64) in zip(model.named_parameters(), exact.named_parameters()):
        tensors[f"{name}/param/{pname}"] = p.detach().clone()
        tensors[f"{name}/grad/{pname}"] = p64.grad.detach().float()
    metadata[f"{name}/names"] = json.dumps([pname for pname, _ in model.named_parameters()])


def main():
    tensors, metadata = {}, {}

    torch.manual_seed(0)
    multitask = MultiTaskModel()
    record(multitask, "multitask", torch.randn(7, 10), [torch.randn(7, 1) for _ in range(3)],
           tensors, metadata)

    torch.manual_seed(1)
    ensemble = EnsembleModel()
    record(ensemble, "ensemble", torch.randn(7, 10), [torch.randn(7, 1)], tensors, metadata)

    # A model trained on the PyTorch side: learn y_i = sum of a few features, per task.
    torch.manual_seed(2)
    trained = MultiTaskModel()
    optimizer = torch.optim.SGD(trained.parameters(), lr=0.05)
    x_train = torch.randn(64, 10)
    y_train = [x_train[:, i:i + 3].sum(dim=1, keepdim=True) for i in range(3)]
    for _ in range(200):
        optimizer.zero_grad()
        loss = sum(torch.nn.functional.mse_loss(o, y) for o, y in zip(trained(x_train), y_train))
        loss.backward()
        optimizer.step()
    save(os.path.join(HERE, "trained_multitask.safetensors"),
         {name: p.detach() for name, p in trained.state_dict().items()},
         {"trained_by": f"PyTorch {torch.__version__}", "final_loss": f"{loss.item():.6f}"})
    x_eval = torch.randn(5, 10)
    tensors["trained/x"] = x_eval
    with torch.no_grad():
        for i, out in enumerate(trained(x_eval)):
            tensors[f"trained/out{i}"] = out

    path = os.path.join(HERE, "models.safetensors")
    save(path, tensors, metadata)
    print(f"{path}: {os.path.getsize(path)} bytes; final trained loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
