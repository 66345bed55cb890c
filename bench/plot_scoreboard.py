"""Charts from bench_scoreboard's results.json (Debian's python3-matplotlib):

    steps.png       training step and inference time vs size, per peer (multitask, ensemble)
    ensembles.png   ensemble step and inference time vs the number of members K
    gemm.png        GEMM GFLOP/s vs square size, per library, against the measured peak

    /usr/bin/python3 bench/plot_scoreboard.py build/bench/results.json [OUT_DIR]

OUT_DIR defaults to the folder of results.json. Solid lines: 1 thread; dashed: 2 threads.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"ember fused": "C0", "ember written": "C9", "Eigen floor": "C2", "libtorch": "C3",
          "PyTorch": "C1", "ember looped": "C9", "ember batched": "C0", "libtorch looped": "C3",
          "PyTorch looped": "C1", "ember_matmul": "C0", "ember_gemm_kernel": "C9", "eigen": "C2",
          "openblas": "C3", "libxsmm": "C4"}
STYLES = {1: "-", 2: "--"}


def lines(ax, rows, x_of, peers, value=lambda s: s["median_s"] * 1e6):
    """One line per (peer, thread count) through the rows that have that peer."""
    for threads in sorted({r["threads"] for r in rows}):
        for peer in peers:
            points = sorted((x_of(r), value(r["peers"][peer])) for r in rows
                            if r["threads"] == threads and peer in r["peers"])
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, STYLES.get(threads, ":"), marker="o", color=COLORS.get(peer),
                        label=f"{peer}, {threads} thread{'s' if threads > 1 else ''}")


def size_label(case):
    last = case["features"] if case["model"] == "multitask" else 1
    return f"({case['batch']}; {case['inputs']}-{case['hidden']}-{last})"


def steps_chart(results, out):
    rows = results.get("steps", [])
    if not rows:
        return
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    peers = ["ember fused", "ember written", "Eigen floor", "libtorch", "PyTorch"]
    for ax, (model, mode) in zip(axes.flat, [("multitask", "train"), ("multitask", "infer"),
                                             ("ensemble", "train"), ("ensemble", "infer")]):
        chosen = [r for r in rows if r["case"]["model"] == model and r["case"]["mode"] == mode]
        sizes = sorted({(r["case"]["batch"], size_label(r["case"])) for r in chosen})
        position = {batch: i for i, (batch, _) in enumerate(sizes)}  # evenly spaced sizes
        lines(ax, chosen, lambda r: position[r["case"]["batch"]], peers)
        ax.set(yscale="log", xlabel="(batch; in-hidden-feature)", ylabel="µs per call",
               title=f"{model}: {'training step' if mode == 'train' else 'inference'}")
        ax.set_xticks(range(len(sizes)), labels=[label for _, label in sizes])
        ax.set_xlim(-0.3, len(sizes) - 0.7)
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title(results))
    fig.tight_layout()
    fig.savefig(os.path.join(out, "steps.png"), dpi=110)


def ensembles_chart(results, out):
    rows = results.get("ensembles", [])
    if not rows:
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    peers = ["ember looped", "ember batched", "Eigen floor", "libtorch looped", "PyTorch looped"]
    for ax, mode in zip(axes, ["train", "infer"]):
        lines(ax, [r for r in rows if r["case"]["mode"] == mode], lambda r: r["case"]["members"], peers)
        ax.set(xscale="log", yscale="log", xlabel="members K (10 -> 50 -> 1, batch 64)",
               ylabel="µs per call", title="training step (Adam)" if mode == "train" else "inference")
        ax.set_xticks([1, 2, 4, 8, 16, 32], labels=["1", "2", "4", "8", "16", "32"])
        ax.minorticks_off()
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title(results))
    fig.tight_layout()
    fig.savefig(os.path.join(out, "ensembles.png"), dpi=110)


def gemm_chart(results, out):
    rows = [r for r in results.get("gemm", []) if r["M"] == r["N"] == r["K"]]
    if not rows:
        return
    thread_counts = sorted({r["threads"] for r in rows})
    fig, axes = plt.subplots(1, len(thread_counts), figsize=(6 * len(thread_counts), 4.8), squeeze=False)
    peers = ["ember_matmul", "ember_gemm_kernel", "eigen", "openblas", "libxsmm"]
    for ax, threads in zip(axes[0], thread_counts):
        chosen = [r for r in rows if r["threads"] == threads]
        lines(ax, chosen, lambda r: r["M"], peers, value=lambda s: s["gflops"])
        ax.axhline(chosen[0]["peak_gflops"], color="k", linestyle=":", label="peak (FMA loop)")
        ax.set(xscale="log", xlabel="n (n×n×n, float32)", ylabel="GFLOP/s",
               title=f"GEMM, {threads} thread{'s' if threads > 1 else ''}")
        ax.set_ylim(0, 1.08 * chosen[0]["peak_gflops"])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title(results))
    fig.tight_layout()
    fig.savefig(os.path.join(out, "gemm.png"), dpi=110)


def title(results):
    machine = results["machine"]
    load = results.get("load_at_start") or ["?"]
    return f"{machine['cpu']}, {machine['logical_cpus']} logical CPUs, load {load[0]} at start"


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        results = json.load(f)
    out = sys.argv[2] if len(sys.argv) == 3 else os.path.dirname(os.path.abspath(sys.argv[1]))
    os.makedirs(out, exist_ok=True)
    steps_chart(results, out)
    ensembles_chart(results, out)
    gemm_chart(results, out)
    print(f"charts in {out}: steps.png, ensembles.png, gemm.png")


if __name__ == "__main__":
    main()
