"""PyTorch's side of bench_core's small-op rows: the same ops on the same shapes, timed the
same way (median of 9 runs of many back-to-back calls). Run with Debian's python3-torch:

    python3 bench/torch_small_ops.py
"""
import statistics
import time

import torch


def median_seconds(repeats, iterations, body):
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            body()
        samples.append((time.perf_counter() - start) / iterations)
    return statistics.median(samples)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)  # small ops: threads only add overhead
    a = torch.randn(10, 10, requires_grad=True)
    b = torch.randn(10, 10, requires_grad=True)
    a_const, b_const = a.detach(), b.detach()

    def forward_backward():
        loss = ((a + b) * a).sum()
        loss.backward()

    rows = [
        ("add, inputs require grad (node recorded)", median_seconds(9, 20000, lambda: a + b)),
        ("add, constants (no node)", median_seconds(9, 20000, lambda: a_const + b_const)),
        ("mul, inputs require grad (saves both inputs)", median_seconds(9, 20000, lambda: a * b)),
        ("sum((a + b) * a) forward + backward (3 ops)", median_seconds(9, 5000, forward_backward)),
    ]
    print(f"{'PyTorch ' + torch.__version__ + ' from Python, [10, 10] float32':<52} {'ns per call':>12}")
    for name, seconds in rows:
        print(f"{name:<52} {seconds * 1e9:12.0f}")


if __name__ == "__main__":
    main()
