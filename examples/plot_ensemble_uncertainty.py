#!/usr/bin/env python3
"""Draws what ensemble_uncertainty_toy wrote: the deep ensemble's mixture mean and its
±3σ band on [-6, 6], the true curve y = x³ and the 20 training points, with the training
range [-4, 4] shaded, as in Lakshminarayanan et al. (2017), Figure 1.

    python3 examples/plot_ensemble_uncertainty.py [DIR] [OUT.png]

DIR holds ensemble_uncertainty_toy.csv and ensemble_uncertainty_toy_train.csv (default .);
the picture goes to OUT.png (default DIR/ensemble_uncertainty_toy.png).
"""

import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    return {key: [float(row[key]) for row in rows] for key in rows[0]}


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "."
    output = sys.argv[2] if len(sys.argv) > 2 else os.path.join(folder, "ensemble_uncertainty_toy.png")
    curve = read(os.path.join(folder, "ensemble_uncertainty_toy.csv"))
    points = read(os.path.join(folder, "ensemble_uncertainty_toy_train.csv"))

    figure, axes = plt.subplots(figsize=(6, 4.5))
    axes.axvspan(-4, 4, color="0.93", label="training range")
    axes.fill_between(curve["x"], curve["lower_3sigma"], curve["upper_3sigma"], color="tab:blue",
                      alpha=0.25, label="mixture mean ± 3σ")
    axes.plot(curve["x"], curve["true_y"], color="tab:blue", linestyle="--", label="y = x³")
    axes.plot(curve["x"], curve["mean"], color="tab:gray", label="mixture mean")
    axes.scatter(points["x"], points["y"], color="tab:red", s=14, zorder=3, label="training points")
    axes.set_xlim(-6, 6)
    axes.set_ylim(-250, 250)
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.set_title("Deep ensemble (5 members, NLL + adversarial training)")
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(output, dpi=120)
    print("wrote", output)


if __name__ == "__main__":
    main()
