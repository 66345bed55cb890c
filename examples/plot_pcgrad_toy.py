#!/usr/bin/python3
"""Draws the paths that examples/pcgrad_toy wrote over the contours of L1 + L2.

    build/examples/pcgrad_toy --csv pcgrad_toy.csv
    /usr/bin/python3 examples/plot_pcgrad_toy.py pcgrad_toy.csv pcgrad_toy.png
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def total_loss(theta1, theta2):
    # The same L1 + L2 as examples/pcgrad_toy.cpp.
    a = np.maximum(np.abs(0.5 * theta1 + np.tanh(theta2)), 5e-6)
    b = np.maximum(np.abs(0.5 * theta1 - np.tanh(theta2) + 2), 5e-6)
    return 20 * np.log(a) + 25 * np.log(b)


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "pcgrad_toy.csv"
    target = sys.argv[2] if len(sys.argv) > 2 else "pcgrad_toy.png"
    paths = {}
    with open(source) as f:
        for row in csv.DictReader(f):
            paths.setdefault(row["method"], []).append((float(row["theta1"]), float(row["theta2"])))
    t1, t2 = np.meshgrid(np.linspace(-10, 10, 400), np.linspace(-10, 10, 400))
    fig, ax = plt.subplots(figsize=(6, 5))
    contour = ax.contourf(t1, t2, total_loss(t1, t2), levels=40, cmap="viridis")
    fig.colorbar(contour, label="L1 + L2")
    for (method, path), color in zip(paths.items(), ["tab:red", "white"]):
        points = np.array(path)
        ax.plot(points[:, 0], points[:, 1], color=color, label=method)
        ax.plot(points[-1, 0], points[-1, 1], "o", color=color)
    ax.plot(*paths[next(iter(paths))][0], "k^", label="start")
    ax.set_xlabel("theta1")
    ax.set_ylabel("theta2")
    ax.legend(loc="lower right")
    ax.set_title("PCGrad toy (Yu et al. 2020)")
    fig.tight_layout()
    fig.savefig(target, dpi=120)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
