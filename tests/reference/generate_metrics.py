#!/usr/bin/env python3
"""Writes metrics.json: scikit-learn and NumPy references for ember's metrics
(train/metrics.h), which tests/test_metrics.cpp checks ember against.

Run from anywhere (needs numpy, scipy and scikit-learn 1.2; Debian's python3-sklearn):
    python3 tests/reference/generate_metrics.py

Layout:
  {"versions": {"numpy", "scipy", "sklearn"},
   "classification": [case, ...], "regression": [case, ...]}
A classification case holds
  name, num_classes, y_true [N], y_pred [N] (argmax of probabilities), probabilities [N][C],
  binary_probabilities [N] (two-class cases only), roc {y_true, scores} (scores with ties),
  expected {accuracy, confusion_matrix, precision/recall/f1 {macro, micro, per_class},
            roc_auc, log_loss, brier_score, calibration {ece, bins [{lower, upper, count,
            mean_confidence, accuracy}]}, and for two-class cases binary_log_loss,
            binary_brier_score, binary_calibration (from binary_probabilities)}.
A regression case holds name, y_true, y_pred (the predicted mean), variance [N] and expected
{rmse, mae, r2, gaussian_nll, coverage_95}.

Every input is drawn, then rounded to float32 (what ember's tensors hold), and the
references are computed in float64 from exactly those values, so a difference is ember's
own arithmetic. JSON floats are written with Python's repr, which reads back exactly.

Choices, matching train/metrics.h:
  - precision/recall/f1 get labels=range(C), so every class counts in the macro mean, and
    zero_division=0;
  - log_loss gets eps = float32's machine epsilon (2**-23): what sklearn 1.2's eps="auto"
    picks for the float32 arrays ember holds (inputs are passed as float64 here so that the
    reference itself is computed in float64);
  - sklearn 1.2 has no multi-class Brier score and no calibration error: those references
    are written below in NumPy, from their definitions.
"""

import json
import os

import numpy as np
import scipy
import scipy.stats
import sklearn
from sklearn import metrics

SEED = 20240609
NUM_BINS = 15
Z_975 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)


def f32(values):
    """float32-rounded values, as float64 for the reference computations."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def softmax_rows(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def multiclass_brier(y_true, probabilities):
    """mean over samples of sum over classes of (p_ic - [y_i == c])^2."""
    one_hot = np.eye(probabilities.shape[1])[y_true]
    return float(np.mean(np.sum((probabilities - one_hot) ** 2, axis=1)))


def calibration(y_true, probabilities):
    """ECE with NUM_BINS equal-width bins (lower, upper] (Guo et al. 2017) and the bins."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, NUM_BINS + 1)
    bins, ece = [], 0.0
    for lower, upper in zip(edges[:-1], edges[1:]):
        inside = (confidence > lower) & (confidence <= upper)
        count = int(inside.sum())
        mean_confidence = float(confidence[inside].mean()) if count else 0.0
        accuracy = float(correct[inside].mean()) if count else 0.0
        ece += count / len(y_true) * abs(accuracy - mean_confidence)
        bins.append({"lower": float(lower), "upper": float(upper), "count": count,
                     "mean_confidence": mean_confidence, "accuracy": accuracy})
    return {"ece": ece, "bins": bins}


def as_rows(binary_probabilities):
    """[N] probabilities of class 1 as rows [1 - p, p], as ember reads them."""
    return np.stack([1.0 - binary_probabilities, binary_probabilities], axis=1)


def classification_case(name, y_true, probabilities, roc_y, roc_scores,
                        binary_probabilities=None):
    num_classes = probabilities.shape[1]
    y_pred = probabilities.argmax(axis=1)
    labels = list(range(num_classes))
    expected = {
        "accuracy": metrics.accuracy_score(y_true, y_pred),
        "confusion_matrix": metrics.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "roc_auc": metrics.roc_auc_score(roc_y, roc_scores),
        "log_loss": metrics.log_loss(y_true, probabilities, labels=labels,
                                     eps=np.finfo(np.float32).eps),
        "brier_score": multiclass_brier(y_true, probabilities),
        "calibration": calibration(y_true, probabilities),
    }
    for score, function in [("precision", metrics.precision_score),
                            ("recall", metrics.recall_score), ("f1", metrics.f1_score)]:
        expected[score] = {
            average: function(y_true, y_pred, labels=labels, average=average, zero_division=0)
            for average in ("macro", "micro")
        }
        expected[score]["per_class"] = function(
            y_true, y_pred, labels=labels, average=None, zero_division=0).tolist()
    case = {"name": name, "num_classes": num_classes, "y_true": y_true.tolist(),
            "y_pred": y_pred.tolist(), "probabilities": probabilities.tolist(),
            "roc": {"y_true": roc_y.tolist(), "scores": roc_scores.tolist()}}
    if binary_probabilities is not None:
        expected["binary_log_loss"] = metrics.log_loss(
            y_true, binary_probabilities, labels=[0, 1], eps=np.finfo(np.float32).eps)
        expected["binary_brier_score"] = metrics.brier_score_loss(y_true, binary_probabilities)
        expected["binary_calibration"] = calibration(y_true, as_rows(binary_probabilities))
        case["binary_probabilities"] = binary_probabilities.tolist()
    case["expected"] = {key: value if isinstance(value, (list, dict)) else float(value)
                        for key, value in expected.items()}
    return case


def binary_case(rng, name, n):
    """Probabilities on a 0.1 grid, so ROC scores tie; 0 and 1 exercise log_loss's clip."""
    y_true = rng.integers(0, 2, n)
    p = np.clip(np.round(0.25 + 0.5 * y_true + rng.normal(0, 0.3, n), 1), 0.0, 1.0)
    p[:2] = [0.0, 1.0]
    p = f32(p)
    return classification_case(name, y_true, f32(as_rows(p)), y_true, p, p)


def multiclass_case(rng, name, n, num_classes, never_predicted, never_true=()):
    """Softmax probabilities; classes in never_predicted are never the argmax, classes in
    never_true never appear in y_true (both leave a per-class score 0/0)."""
    allowed = [c for c in range(num_classes) if c not in never_true]
    y_true = rng.choice(allowed, n)
    logits = rng.normal(0, 1.5, (n, num_classes))
    logits[np.arange(n), y_true] += 1.0
    logits[:, list(never_predicted)] -= 8.0
    probabilities = f32(softmax_rows(logits))
    probabilities[0] = [1.0] + [0.0] * (num_classes - 1)  # a zero probability of class y[0]
    y_true[0] = 1
    assert not np.isin(probabilities.argmax(axis=1), list(never_predicted)).any()
    # One-vs-rest ROC for class 0 with scores on a 0.1 grid, so that scores tie.
    roc_scores = f32(np.round(probabilities[:, 0], 1))
    return classification_case(name, y_true, probabilities, (y_true == 0).astype(int),
                               roc_scores)


def regression_case(name, y_true, y_pred, variance):
    y_true, y_pred, variance = f32(y_true), f32(y_pred), f32(variance)
    nll = -scipy.stats.norm.logpdf(y_true, loc=y_pred, scale=np.sqrt(variance))
    inside = np.abs(y_true - y_pred) <= Z_975 * np.sqrt(variance)
    expected = {
        "rmse": metrics.mean_squared_error(y_true, y_pred, squared=False),
        "mae": metrics.mean_absolute_error(y_true, y_pred),
        "r2": metrics.r2_score(y_true, y_pred),
        "gaussian_nll": nll.mean(),
        "coverage_95": inside.mean(),
    }
    return {"name": name, "y_true": y_true.tolist(), "y_pred": y_pred.tolist(),
            "variance": variance.tolist(),
            "expected": {key: float(value) for key, value in expected.items()}}


def main():
    rng = np.random.default_rng(SEED)
    classification = [
        binary_case(rng, "binary_40", 40),
        binary_case(rng, "binary_9", 9),
        multiclass_case(rng, "three_classes_50", 50, 3, never_predicted=[2]),
        multiclass_case(rng, "four_classes_60", 60, 4, never_predicted=[3], never_true=[3]),
        multiclass_case(rng, "five_classes_120", 120, 5, never_predicted=[]),
    ]
    n = 200
    y = rng.normal(1.0, 2.0, n)
    sigma = np.exp(rng.normal(-0.5, 0.5, n))
    mean = y + sigma * rng.normal(0, 1, n)  # well calibrated: coverage near 0.95
    regression = [
        regression_case("calibrated_200", y, mean, sigma**2),
        regression_case("overconfident_30", y[:30], mean[:30] + 0.7, 0.1 * sigma[:30] ** 2),
        regression_case("constant_target", np.full(6, 1.5), np.linspace(1, 2, 6), np.ones(6)),
        regression_case("perfect_constant", np.full(4, -2.25), np.full(4, -2.25), np.ones(4)),
    ]
    fixture = {
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                     "sklearn": sklearn.__version__},
        "classification": classification,
        "regression": regression,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics.json")
    with open(path, "w") as file:
        json.dump(fixture, file, indent=1)
        file.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
