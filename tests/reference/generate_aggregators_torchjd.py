#!/usr/bin/env python3
"""Writes aggregators_torchjd.json: references for ember's Jacobian aggregators
(models/multitask/), on random Jacobians, from torchjd and from the papers' formulas in
NumPy/SciPy. tests/test_dual_aggregators.cpp checks UPGrad and Nash-MTL against it; the
torchjd outputs of MGDA, PCGrad and CAGrad are recorded for their tests too.

torchjd needs a recent PyTorch (not Debian's 1.13), so run it in a virtual environment:
    python3 -m venv /tmp/venv-torchjd
    /tmp/venv-torchjd/bin/pip install torch "torchjd[nash_mtl,cagrad]" scipy
    /tmp/venv-torchjd/bin/python tests/reference/generate_aggregators_torchjd.py

Layout: {"versions": {python, numpy, scipy, torch, torchjd, qpsolvers, quadprog, cvxpy,
ecos, clarabel}, "cases": [case, ...]}. A case holds
  name, kind ("conflicting": some rows have a negative inner product; "aligned": none do),
  jacobian [T][P] (float32 values: what ember's tensors hold),
  torchjd {upgrad, mgda, pcgrad, cagrad, nash_mtl}: each the aggregated vector [P], from
    torchjd's default parameters except CAGrad(c=0.5); a fresh NashMTL(n_tasks=T) per case
    (it is stateful); pcgrad_permutations [T][T]: the orders torchjd's PCGrad drew
    (torch.manual_seed(0) before each case, one torch.randperm(T) per row); J is passed as
    float64, so torchjd's Gramian is not rounded to float32;
  numpy {
    upgrad_exact {weights [T], d [P]}: the paper's formula with no normalisation or
      regularisation, d = (1/T) Σ_i π(g_i), each projection onto {x : J x >= 0} found by
      Moreau's decomposition: π(g) = g + Jᵀλ, λ = argmin_{λ >= 0} |g + Jᵀλ| (scipy's NNLS on
      J itself, not on its Gramian); weights w = (1/T) Σ_i (e_i + λ_i), null when T > P
      (then G is singular and the weights are not unique, d still is);
    upgrad_torchjd {weights [T], d [P]}: torchjd's variant, G / trace(G) + 1e-4 I, by the
      same NNLS on the augmented matrix [J / sqrt(trace G), sqrt(1e-4) I], whose Gramian it is;
    nash_mtl {alpha [T], d [P], d_max_norm_1 [P], residual} or null where no solution
      exists: α > 0 with α_i (G α)_i = 1 (Navon et al. 2022), by scipy.optimize.root (MINPACK's
      hybrid method, else Levenberg-Marquardt) on log α, G = J Jᵀ unnormalised; d = Jᵀ α; d_max_norm_1 = d / |d| when
      |d| > 1 (the max_norm = 1 of the paper's code); residual = max_i |α_i (Gα)_i - 1|;
    nash_torchjd_spread: max/min of α_i (G α)_i for the α that torchjd's output implies
      (its α is scaled by max_norm, so the products are equal, not 1, when it converged; null
      when T > P, where α is not determined by d).
  }
"""

import json
import os
import platform
from importlib import metadata

import numpy as np
import scipy
import scipy.optimize
import torch
import torchjd
from torchjd.aggregation import MGDA, CAGrad, NashMTL, PCGrad, UPGrad

SEED = 20240610
TASKS = (2, 3, 5)
PARAMETERS = (3, 10, 50)
UPGRAD_REG_EPS = 1e-4  # torchjd's default reg_eps (its norm_eps only matters below trace 1e-4)


def draw_jacobian(rng, tasks, parameters, kind):
    """Rows with scales spread over two decades; redrawn until the kind holds."""
    while True:
        if kind == "conflicting":
            rows = rng.standard_normal((tasks, parameters))
        else:
            rows = rng.standard_normal(parameters) + 0.6 * rng.standard_normal((tasks, parameters))
        rows *= 10.0 ** rng.uniform(-1, 1, size=(tasks, 1))
        jacobian = rows.astype(np.float32).astype(np.float64)
        gramian = jacobian @ jacobian.T
        off_diagonal = gramian[~np.eye(tasks, dtype=bool)]
        if (kind == "conflicting") == bool((off_diagonal < 0).any()):
            return jacobian


def dual_cone_projection_weights(matrix, i):
    """w with Aᵀw = projection of row i of A onto {x : A x >= 0}: e_i + NNLS multipliers."""
    row = matrix[i]
    multipliers, _ = scipy.optimize.nnls(matrix.T, -row, maxiter=100 * matrix.shape[0])
    weights = multipliers.copy()
    weights[i] += 1.0
    return weights


def upgrad_weights(matrix):
    tasks = matrix.shape[0]
    return sum(dual_cone_projection_weights(matrix, i) for i in range(tasks)) / tasks


def upgrad_exact(jacobian):
    tasks, parameters = jacobian.shape
    weights = upgrad_weights(jacobian)
    return {"weights": weights.tolist() if tasks <= parameters else None,
            "d": (jacobian.T @ weights).tolist()}


def upgrad_torchjd_variant(jacobian):
    tasks = jacobian.shape[0]
    trace = np.trace(jacobian @ jacobian.T)
    augmented = np.hstack([jacobian / np.sqrt(trace), np.sqrt(UPGRAD_REG_EPS) * np.eye(tasks)])
    weights = upgrad_weights(augmented)
    return {"weights": weights.tolist(), "d": (jacobian.T @ weights).tolist()}


def nash_mtl_exact(jacobian):
    gramian = jacobian @ jacobian.T

    def condition(log_alpha):
        alpha = np.exp(log_alpha)
        return alpha * (gramian @ alpha) - 1.0

    # MINPACK's hybrid method, then Levenberg-Marquardt where it stalls; judged by the
    # residual (MINPACK may report "no progress" once it is at rounding level).
    start = -0.5 * np.log(np.diag(gramian))
    for method in ("hybr", "lm"):
        solution = scipy.optimize.root(condition, start, method=method, options={"xtol": 1e-15})
        alpha = np.exp(solution.x)
        residual = float(np.max(np.abs(alpha * (gramian @ alpha) - 1.0)))
        if residual <= 1e-11:
            break
    else:
        return None
    d = jacobian.T @ alpha
    norm = np.linalg.norm(d)
    return {"alpha": alpha.tolist(), "d": d.tolist(),
            "d_max_norm_1": (d / norm if norm > 1 else d).tolist(), "residual": residual}


def implied_nash_spread(jacobian, d):
    tasks, parameters = jacobian.shape
    if tasks > parameters:
        return None
    alpha, *_ = np.linalg.lstsq(jacobian.T, d, rcond=None)
    products = alpha * (jacobian @ jacobian.T @ alpha)
    return float(products.max() / products.min()) if products.min() > 0 else None


def torchjd_outputs(jacobian):
    matrix = torch.tensor(jacobian, dtype=torch.float64)
    permutations = []
    draw = torch.randperm

    def recording_randperm(n, *args, **kwargs):
        permutation = draw(n, *args, **kwargs)
        permutations.append(permutation.tolist())
        return permutation

    torch.manual_seed(0)
    torch.randperm = recording_randperm
    try:
        pcgrad = PCGrad()(matrix)
    finally:
        torch.randperm = draw
    return {
        "upgrad": UPGrad()(matrix).tolist(),
        "mgda": MGDA()(matrix).tolist(),
        "pcgrad": pcgrad.tolist(),
        "pcgrad_permutations": permutations,
        "cagrad": CAGrad(c=0.5)(matrix).tolist(),
        "nash_mtl": NashMTL(n_tasks=jacobian.shape[0])(matrix).tolist(),
    }


def version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def main():
    rng = np.random.default_rng(SEED)
    cases = []
    for tasks in TASKS:
        for parameters in PARAMETERS:
            for kind in ("conflicting", "aligned"):
                jacobian = draw_jacobian(rng, tasks, parameters, kind)
                reference = torchjd_outputs(jacobian)
                cases.append({
                    "name": f"T{tasks}_P{parameters}_{kind}",
                    "kind": kind,
                    "jacobian": jacobian.tolist(),
                    "torchjd": reference,
                    "numpy": {
                        "upgrad_exact": upgrad_exact(jacobian),
                        "upgrad_torchjd": upgrad_torchjd_variant(jacobian),
                        "nash_mtl": nash_mtl_exact(jacobian),
                        "nash_torchjd_spread": implied_nash_spread(
                            jacobian, np.array(reference["nash_mtl"])),
                    },
                })
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "scipy": scipy.__version__, "torch": torch.__version__,
                "torchjd": getattr(torchjd, "__version__", None) or version("torchjd")}
    for package in ("qpsolvers", "quadprog", "cvxpy", "ecos", "clarabel"):
        versions[package] = version(package)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "aggregators_torchjd.json")
    with open(path, "w") as file:
        json.dump({"versions": versions, "cases": cases}, file, indent=1)
        file.write("\n")
    print(f"wrote {len(cases)} cases to {path}; versions {versions}")


if __name__ == "__main__":
    main()
