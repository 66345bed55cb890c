"""PyTorch's side of examples/deep_ensemble_uci.cpp: deep ensembles (Lakshminarayanan et al.
2017, Table 1's protocol) on scikit-learn's diabetes data, on the same 20 train/test splits
(data/diabetes_splits.csv.gz), with the same model, training and scoring, so the two tables and
wall times can be set side by side.

Per split: inputs and targets standardised with the train split's mean and population std; 5
members of Linear(10, 50) -> ReLU -> Linear(50, 2) (PyTorch's default init, as the paper's
"default weight initialization in Torch"), each output read as (μ, softplus(v) + 1e-6), trained
40 epochs by Adam (lr 0.1, batches of 100, reshuffled every epoch) on the Gaussian NLL
0.5 (log σ² + (y - μ)² / σ²); with +AT each batch also adds the NLL at the fast-gradient-sign
input x + ε sign(∇_x NLL), ε = 0.01 × each standardised input's range on the train split. The
mixture is collapsed to one Gaussian, μ* = mean μ_k, σ*² = mean (σ_k² + μ_k²) - μ*², and scored
on the test split in original units (RMSE of μ*, Gaussian NLL including log of the target's
scale). K = 1 is member 0 of the same ensemble. One thread, as ember runs at these sizes.

    /usr/bin/python3 bench/deep_ensemble_uci.py [--quick]
"""
import argparse
import math
import os
import time

import numpy as np
import torch
from torch import nn

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
MEMBERS, HIDDEN, BATCH, LR = 5, 50, 100, 0.1
NAMES = ["deep ensemble K=5", "single net K=1", "deep ensemble K=5 +AT", "single net K=1 +AT"]


def mean_variance(output):
    """A member's output [B, 2] as the mean and the variance softplus(v) + 1e-6, each [B]."""
    return output[:, 0], nn.functional.softplus(output[:, 1]) + 1e-6


def nll(output, y):
    mu, var = mean_variance(output)
    return (0.5 * (torch.log(var) + (y - mu) ** 2 / var)).mean()


def train_member(net, x, y, epochs, epsilon):
    adam = torch.optim.Adam(net.parameters(), lr=LR)
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), BATCH):
            rows = order[start:start + BATCH]
            xb, yb = x[rows].clone().requires_grad_(epsilon is not None), y[rows]
            loss = nll(net(xb), yb)
            if epsilon is not None:
                (gradient,) = torch.autograd.grad(loss, xb, retain_graph=True)
                loss = loss + nll(net(xb.detach() + epsilon * gradient.sign()), yb)
            adam.zero_grad()
            loss.backward()
            adam.step()


def score(mu, var, y, y_mean, y_scale):
    """RMSE and Gaussian NLL in original units of a prediction N(mu, var) in standardised ones."""
    mu = mu * y_scale + y_mean
    var = var * y_scale ** 2
    error = y - mu
    nll_value = (0.5 * np.log(2 * math.pi * var) + error ** 2 / (2 * var)).mean()
    return math.sqrt((error ** 2).mean()), nll_value


def mean_and_error(values):
    values = np.asarray(values)
    error = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return values.mean(), error


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2 splits of 5 epochs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    epochs = 5 if args.quick else 40

    table = np.loadtxt(os.path.join(DATA, "diabetes.csv.gz"), delimiter=",", skiprows=1)
    splits = np.loadtxt(os.path.join(DATA, "diabetes_splits.csv.gz"), delimiter=",", skiprows=1)
    x_all, y_all = table[:, :-1], table[:, -1]
    split_count = 2 if args.quick else splits.shape[1]
    features = x_all.shape[1]
    print(f"deep ensembles on diabetes ({len(table)} rows, {features} features), PyTorch "
          f"{torch.__version__}: {split_count} splits, {MEMBERS} members x ({features} -> 50 ReLU "
          f"-> mean, variance), {epochs} epochs, Adam lr {LR}, batch {BATCH}"
          + (" (--quick)" if args.quick else ""))
    print(f"{'split':<6} {'model':<24} {'RMSE':>9} {'NLL':>8}")
    scores = [[] for _ in NAMES]
    seconds, cpu_seconds = [0.0, 0.0], [0.0, 0.0]  # wall clock and process CPU time
    for split in range(split_count):
        test = splits[:, split] == 1
        x_mean, x_scale = x_all[~test].mean(0), x_all[~test].std(0)
        y_mean, y_scale = y_all[~test].mean(), y_all[~test].std()
        x_train = torch.tensor((x_all[~test] - x_mean) / x_scale, dtype=torch.float32)
        y_train = torch.tensor((y_all[~test] - y_mean) / y_scale, dtype=torch.float32)
        x_test = torch.tensor((x_all[test] - x_mean) / x_scale, dtype=torch.float32)
        for adversarial in (0, 1):
            start, cpu_start = time.perf_counter(), time.process_time()
            torch.manual_seed(split)
            epsilon = None
            if adversarial:
                epsilon = 0.01 * (x_train.max(0).values - x_train.min(0).values)
            members = [nn.Sequential(nn.Linear(features, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2))
                       for _ in range(MEMBERS)]
            for net in members:
                train_member(net, x_train, y_train, epochs, epsilon)
            with torch.no_grad():
                predictions = [mean_variance(net(x_test)) for net in members]
                mus = torch.stack([mu for mu, _ in predictions]).double()  # [K, B]
                variances = torch.stack([var for _, var in predictions]).double()
                mixture_mu = mus.mean(0)
                mixture_var = (variances + mus ** 2).mean(0) - mixture_mu ** 2
            seconds[adversarial] += time.perf_counter() - start
            cpu_seconds[adversarial] += time.process_time() - cpu_start
            rows = [score(mixture_mu.numpy(), mixture_var.numpy(), y_all[test], y_mean, y_scale),
                    score(mus[0].numpy(), variances[0].numpy(), y_all[test], y_mean, y_scale)]
            for offset, (rmse, nll_value) in enumerate(rows):
                scores[2 * adversarial + offset].append((rmse, nll_value))
                label = str(split) if offset == 0 else ""
                print(f"{label:<6} {NAMES[2 * adversarial + offset]:<24} {rmse:9.3f} {nll_value:8.3f}")

    print(f"\nover {split_count} splits (mean ± standard error), in the target's units:")
    print(f"{'model':<24} {'RMSE':>18} {'NLL':>18} {'wall (s)':>10} {'cpu (s)':>10}")
    for row, name in enumerate(NAMES):
        rmse_mean, rmse_error = mean_and_error([s[0] for s in scores[row]])
        nll_mean, nll_error = mean_and_error([s[1] for s in scores[row]])
        wall = f"{seconds[row // 2]:.2f}" if row % 2 == 0 else ""
        cpu = f"{cpu_seconds[row // 2]:.2f}" if row % 2 == 0 else ""
        print(f"{name:<24} {rmse_mean:9.3f} ± {rmse_error:6.3f} {nll_mean:9.3f} ± {nll_error:6.3f} "
              f"{wall:>10} {cpu:>10}")


if __name__ == "__main__":
    main()
