#!/usr/bin/python3
"""Writes aggregators.json: NumPy/SciPy references for ember's PCGrad, MGDA and CAGrad
(models/multitask/aggregators.h), which tests/test_aggregators.cpp checks ember against.

Run from anywhere (needs numpy and scipy; Debian's python3-numpy and python3-scipy):
    /usr/bin/python3 tests/reference/generate_aggregators.py

Layout: {"versions": {"numpy", "scipy"}, "cases": [case, ...]}, each case holding
  name, conflicting (some pair of rows has a negative inner product), jacobian [T][P],
  pcgrad [P], mgda [P], mgda_norm, cagrad [P] (c = 0.5), cagrad_objective.
Each Jacobian is drawn, then rounded to float32 (what ember's tensors hold), and the
references are computed in float64 from exactly those values. JSON floats are written with
Python's repr, which reads back exactly.

Each reference is computed from the paper's definition by a method other than ember's:
  - PCGrad (Yu et al. 2020, Algorithm 1) projects the P-dimensional vectors themselves, in
    index order (ember's PCGrad(shuffle=false)), and sums them.
  - MGDA (Sener & Koltun 2018): the min-norm point of the convex hull of the rows, found
    exactly by enumerating faces: for every affinely independent subset of rows, the
    projection of the origin onto its affine hull (least squares) is a candidate when its
    barycentric coordinates are >= 0; the shortest candidate is the min-norm point.
  - CAGrad (Liu et al. 2021), c = 0.5: w minimises g_w . g0 + c |g0| |g_w| over the simplex
    (SciPy SLSQP, as the authors' code, but from every vertex, the centre and random starts
    with tight tolerances, keeping the best), then d = g0 + c |g0| g_w / |g_w| (the paper's
    d, without the authors' optional 1/(1 + c^2) rescaling).
"""

import itertools
import json
import os

import numpy as np
import scipy
import scipy.optimize

C = 0.5


def pcgrad(J):
    projected = []
    for i in range(len(J)):
        g = J[i].copy()
        for j in range(len(J)):
            if j != i and g @ J[j] < 0:
                g = g - (g @ J[j]) / (J[j] @ J[j]) * J[j]
        projected.append(g)
    return np.sum(projected, axis=0)


def mgda(J):
    best = None
    T = len(J)
    for size in range(1, T + 1):
        for subset in itertools.combinations(range(T), size):
            points = J[list(subset)]
            directions = (points[1:] - points[0]).T  # [P, size - 1]
            if size > 1 and np.linalg.matrix_rank(directions, tol=1e-10) < size - 1:
                continue
            if size > 1:
                beta = np.linalg.lstsq(directions, -points[0], rcond=None)[0]
                coords = np.concatenate([[1 - beta.sum()], beta])
            else:
                coords = np.ones(1)
            if coords.min() < -1e-12:
                continue
            point = coords @ points
            if best is None or point @ point < best @ best:
                best = point
    return best


def cagrad(J, rng):
    T = len(J)
    G = J @ J.T
    g0 = J.mean(axis=0)
    radius = C * np.linalg.norm(g0)

    def objective(w):
        return w @ G @ np.full(T, 1 / T) + radius * np.sqrt(max(w @ G @ w, 0.0))

    starts = [np.full(T, 1 / T)] + list(np.eye(T)) + list(rng.dirichlet(np.ones(T), 8))
    best = None
    for start in starts:
        result = scipy.optimize.minimize(
            objective, start, method="SLSQP", bounds=[(0, 1)] * T,
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
            options={"ftol": 1e-16, "maxiter": 2000})
        w = np.clip(result.x, 0, None)
        w /= w.sum()
        if best is None or objective(w) < objective(best):
            best = w
    gw = best @ J
    d = g0 + radius * gw / np.linalg.norm(gw)
    return d, objective(best)


def draw(rng, T, P, conflicting):
    while True:
        if conflicting:
            J = rng.standard_normal((T, P))
        else:  # rows around a common direction: every pair has a positive inner product
            J = rng.standard_normal(P) + 0.3 * rng.standard_normal((T, P))
        J = J * rng.uniform(0.2, 5.0, (T, 1))  # unequal magnitudes
        J = J.astype(np.float32).astype(np.float64)
        G = J @ J.T
        has_conflict = (G < 0).any()
        if has_conflict == conflicting:
            return J


def main():
    rng = np.random.default_rng(10)
    cases = []
    for T in (2, 3, 5):
        for P in (3, 10, 50):
            for conflicting in (True, False):
                J = draw(rng, T, P, conflicting)
                d_mgda = mgda(J)
                d_cagrad, objective = cagrad(J, rng)
                cases.append({
                    "name": f"T={T} P={P} {'conflicting' if conflicting else 'aligned'}",
                    "conflicting": conflicting,
                    "jacobian": J.tolist(),
                    "pcgrad": pcgrad(J).tolist(),
                    "mgda": d_mgda.tolist(),
                    "mgda_norm": float(np.linalg.norm(d_mgda)),
                    "cagrad": d_cagrad.tolist(),
                    "cagrad_objective": float(objective),
                })
    out = {"versions": {"numpy": np.__version__, "scipy": scipy.__version__}, "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "aggregators.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
