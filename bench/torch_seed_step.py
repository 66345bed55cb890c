"""PyTorch's side of bench_seed: one training step of the seed MultiTaskModel (forward,
summed MSE over the three tasks, backward, SGD step) on a batch of 10, timed as bench_seed
times ember's (median of 9 runs of many back-to-back steps).

    python3 bench/torch_seed_step.py
"""
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from seed_models import MultiTaskModel  # noqa: E402


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)  # a batch of 10: threads only add overhead
    model = MultiTaskModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(10, 10)
    targets = [torch.randn(10, 1) for _ in range(3)]
    mse = torch.nn.functional.mse_loss

    def step():
        optimizer.zero_grad()
        outputs = model(x)
        loss = mse(outputs[0], targets[0]) + mse(outputs[1], targets[1]) + mse(outputs[2], targets[2])
        loss.backward()
        optimizer.step()

    for _ in range(200):
        step()
    samples = []
    for _ in range(9):
        start = time.perf_counter()
        for _ in range(500):
            step()
        samples.append((time.perf_counter() - start) / 500)
    print(f"{'PyTorch ' + torch.__version__ + ' (Python) seed MultiTaskModel step':<52} "
          f"{statistics.median(samples) * 1e6:9.1f} us")


if __name__ == "__main__":
    main()
