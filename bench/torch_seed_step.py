"""PyTorch's side of bench_seed: one training step of the seed MultiTaskModel (forward,
summed MSE over the three tasks, backward, SGD step) and of the seed EnsembleModel (forward,
MSE of the averaged prediction, backward, SGD step) on a batch of 10, timed as bench_seed
times ember's (median of 9 runs of many back-to-back steps).

    python3 bench/torch_seed_step.py
"""
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from seed_models import EnsembleModel, MultiTaskModel  # noqa: E402


def median_step_time(step):
    """Median over 9 runs of 500 back-to-back steps, after 200 warm-up steps."""
    for _ in range(200):
        step()
    samples = []
    for _ in range(9):
        start = time.perf_counter()
        for _ in range(500):
            step()
        samples.append((time.perf_counter() - start) / 500)
    return statistics.median(samples)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)  # a batch of 10: threads only add overhead
    mse = torch.nn.functional.mse_loss
    x = torch.randn(10, 10)

    model = MultiTaskModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    targets = [torch.randn(10, 1) for _ in range(3)]

    def multitask_step():
        optimizer.zero_grad()
        outputs = model(x)
        loss = mse(outputs[0], targets[0]) + mse(outputs[1], targets[1]) + mse(outputs[2], targets[2])
        loss.backward()
        optimizer.step()

    ensemble = EnsembleModel()
    ensemble_optimizer = torch.optim.SGD(ensemble.parameters(), lr=0.01)
    target = torch.randn(10, 1)

    def ensemble_step():
        ensemble_optimizer.zero_grad()
        loss = mse(ensemble(x), target)
        loss.backward()
        ensemble_optimizer.step()

    version = "PyTorch " + torch.__version__ + " (Python) seed "
    print(f"{version + 'MultiTaskModel step':<52} {median_step_time(multitask_step) * 1e6:9.1f} us")
    print(f"{version + 'EnsembleModel step':<52} {median_step_time(ensemble_step) * 1e6:9.1f} us")


if __name__ == "__main__":
    main()
