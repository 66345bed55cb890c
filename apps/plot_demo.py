#!/usr/bin/env python3
"""Draws the pictures of `ember demo` from its run folder (argument 1):

  learning_curves.png  per task, the training and validation loss of the equally weighted
                       network by epoch (multitask/equal/metrics.csv)
  reliability.png      the reliability diagram of the single MLP against the best ensemble
                       on the digit task (reliability.csv, 15 equal-width bins)

Needs matplotlib (Debian: python3-matplotlib)."""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def learning_curves(run_dir, out):
    rows = read_rows(os.path.join(run_dir, "multitask", "equal", "metrics.csv"))
    epochs = [int(r["epoch"]) for r in rows]
    tasks = sorted({k.split("/")[1] for k in rows[0] if k.startswith("train/") and k.count("/") == 2})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.2))
    for ax, task in zip(axes, tasks):
        for split, style in (("train", "-"), ("val", "--")):
            ax.plot(epochs, [float(r[f"{split}/{task}/loss"]) for r in rows], style, label=split)
        ax.set_title(task)
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
    axes[0].set_ylabel("loss")
    axes[0].legend()
    fig.suptitle("ember demo: one network, three tasks (equal weighting)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def reliability(run_dir, out):
    rows = read_rows(os.path.join(run_dir, "reliability.csv"))
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], ":", color="gray", label="perfect calibration")
    for model in models:
        bins = [r for r in rows if r["model"] == model and int(r["count"]) > 0]
        ax.plot([float(r["confidence"]) for r in bins], [float(r["accuracy"]) for r in bins],
                "o-", label=model)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("reliability on the digit class (test split)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main():
    run_dir = sys.argv[1]
    learning_curves(run_dir, os.path.join(run_dir, "learning_curves.png"))
    reliability(run_dir, os.path.join(run_dir, "reliability.png"))
    print("pictures: " + os.path.join(run_dir, "learning_curves.png") + ", " +
          os.path.join(run_dir, "reliability.png"))


if __name__ == "__main__":
    main()
