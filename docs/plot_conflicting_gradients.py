#!/usr/bin/python3
"""Draws the updates that examples/conflicting_gradients printed, as arrows from the origin.

    build/examples/conflicting_gradients > conflicting_gradients.csv
    /usr/bin/python3 docs/plot_conflicting_gradients.py conflicting_gradients.csv \
        docs/images/conflicting_gradients.png

The shaded wedge is where an update decreases both losses to first order (d . g1 >= 0 and
d . g2 >= 0).
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "conflicting_gradients.csv"
    target = sys.argv[2] if len(sys.argv) > 2 else "conflicting_gradients.png"
    with open(source) as f:
        rows = [(r["name"], float(r["x"]), float(r["y"])) for r in csv.DictReader(f)]
    vectors = {name: np.array([x, y]) for name, x, y in rows}
    g1, g2 = vectors["g1"], vectors["g2"]

    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    # The wedge {d : d.g1 >= 0, d.g2 >= 0}: between the normals of g1 and g2 that face them.
    n1 = np.array([-g1[1], g1[0]]) / np.linalg.norm(g1)  # turned +90°: d.g1 = 0 on it
    n2 = np.array([g2[1], -g2[0]]) / np.linalg.norm(g2)  # turned -90°: d.g2 = 0 on it
    a1, a2 = np.arctan2(n1[1], n1[0]), np.arctan2(n2[1], n2[0])
    angles = np.linspace(min(a1, a2), max(a1, a2), 50)
    wedge = np.vstack([[0, 0], 3 * np.column_stack([np.cos(angles), np.sin(angles)])])
    ax.fill(wedge[:, 0], wedge[:, 1], color="0.92", zorder=0,
            label="decreases both losses")

    colors = {"g1": "0.3", "g2": "0.3", "sum (equal)": "black", "mean": "0.5"}
    palette = iter(["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange"])
    for name, v in vectors.items():
        color = colors.get(name) or next(palette)
        style = "--" if name in ("g1", "g2", "mean") else "-"
        ax.annotate("", xy=v, xytext=(0, 0),
                    arrowprops=dict(arrowstyle="-|>", color=color, linestyle=style, lw=1.6))
        if name not in ("g1", "g2"):
            ax.plot([], [], style, color=color, label=name)
    for name in ("g1", "g2"):
        ax.text(*(vectors[name] * 1.08), name, ha="center", va="center")

    ax.set_xlim(-1.6, 2.3)
    ax.set_ylim(-0.3, 2.0)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.8", lw=0.5)
    ax.axvline(0, color="0.8", lw=0.5)
    ax.set_title("Two conflicting gradients and each method's update")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=80)


if __name__ == "__main__":
    main()
