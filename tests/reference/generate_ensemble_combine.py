#!/usr/bin/env python3
"""Writes ensemble_combine.json: PyTorch references for ember's ensemble combining rules,
uncertainty measures (models/ensemble/combine.h) and temperature scaling
(models/ensemble/calibration.h), which tests/test_ensemble_combine.cpp checks ember against.

Run from anywhere (needs Debian's python3-torch 1.13):
    /usr/bin/python3 tests/reference/generate_ensemble_combine.py

Every input is drawn in float32 (what ember's tensors hold) and the references are computed
in float64 from exactly those values. JSON floats are Python reprs, which read back exactly.

Layout:
  {"versions": {"torch"},
   "temperature": [case, ...]: name, logits [N][C] or [N] (binary), labels [N],
       expected {temperature, nll_before, nll_after}: T fitted by torch.optim.LBFGS on
       log T (strong Wolfe line search, run to float64 tolerance), and the mean NLL
       (F.cross_entropy, or F.binary_cross_entropy_with_logits for binary) at T = 1 and at T;
   "classification": {logits [K][B][C], expected {soft_vote [B][C], soft_vote_logits [B][C]
       (its log), predictive_entropy [B], expected_entropy [B], mutual_information [B]}},
   "regression": {outputs [K][B], means [K][B], variances [K][B], expected {average [B],
       variance_population [B], variance_unbiased [B], mixture_mean [B],
       mixture_variance [B]}}}
The mixture variance is the paper's form, mean(σ² + μ²) - μ*² (Lakshminarayanan et al.
2017), not ember's rearrangement of it.
"""

import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20240610)


def nll(logits, labels, binary):
    if binary:
        return F.binary_cross_entropy_with_logits(logits, labels).item()
    return F.cross_entropy(logits, labels.long()).item()


def fit_temperature(logits, labels, binary):
    """Guo et al. 2017's fit: minimise the NLL over T with LBFGS (here on log T, so T > 0)."""
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1, max_iter=500, tolerance_grad=1e-14,
                                  tolerance_change=1e-16, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = (F.binary_cross_entropy_with_logits(logits / log_t.exp(), labels) if binary
                else F.cross_entropy(logits / log_t.exp(), labels.long()))
        loss.backward()
        return loss

    optimizer.step(closure)
    return log_t.exp().item()


def temperature_case(name, logits32, labels, binary):
    logits = logits32.double()
    labels = labels.double()
    t = fit_temperature(logits, labels, binary)
    return {"name": name, "logits": logits32.tolist(), "labels": labels.tolist(),
            "expected": {"temperature": t, "nll_before": nll(logits, labels, binary),
                         "nll_after": nll(logits / t, labels, binary)}}


def overconfident_multiclass(n, c, scale):
    """Labels drawn from softmax(z) (so z is calibrated), logits scale * z."""
    z = 1.5 * torch.randn(n, c)
    labels = torch.multinomial(torch.softmax(z.double(), 1), 1).squeeze(1)
    return (scale * z).float(), labels


def temperature_cases():
    logits, labels = overconfident_multiclass(400, 5, 4.0)
    cases = [temperature_case("multiclass overconfident", logits, labels, False)]
    logits, labels = overconfident_multiclass(300, 3, 0.5)
    cases.append(temperature_case("multiclass underconfident", logits, labels, False))
    z = 2.0 * torch.randn(300)
    labels = torch.bernoulli(torch.sigmoid(z.double()))
    cases.append(temperature_case("binary overconfident", (3.0 * z).float(), labels, True))
    return cases


def entropy(p):
    return -(p * p.log()).sum(-1)


def classification_case():
    logits32 = (2 * torch.randn(4, 6, 3)).float()
    probabilities = torch.softmax(logits32.double(), -1)  # [K, B, C]
    soft_vote = probabilities.mean(0)
    predictive = entropy(soft_vote)
    expected = entropy(probabilities).mean(0)
    return {"logits": logits32.tolist(),
            "expected": {"soft_vote": soft_vote.tolist(),
                         "soft_vote_logits": soft_vote.log().tolist(),
                         "predictive_entropy": predictive.tolist(),
                         "expected_entropy": expected.tolist(),
                         "mutual_information": (predictive - expected).tolist()}}


def regression_case():
    outputs32 = torch.randn(5, 7).float()
    means32 = torch.randn(5, 7).float()
    variances32 = (torch.rand(5, 7) + 0.1).float()
    outputs, means, variances = outputs32.double(), means32.double(), variances32.double()
    mixture_mean = means.mean(0)
    mixture_variance = (variances + means ** 2).mean(0) - mixture_mean ** 2
    return {"outputs": outputs32.tolist(), "means": means32.tolist(),
            "variances": variances32.tolist(),
            "expected": {"average": outputs.mean(0).tolist(),
                         "variance_population": outputs.var(0, unbiased=False).tolist(),
                         "variance_unbiased": outputs.var(0, unbiased=True).tolist(),
                         "mixture_mean": mixture_mean.tolist(),
                         "mixture_variance": mixture_variance.tolist()}}


def main():
    fixture = {"versions": {"torch": torch.__version__},
               "temperature": temperature_cases(),
               "classification": classification_case(),
               "regression": regression_case()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ensemble_combine.json")
    with open(path, "w") as file:
        json.dump(fixture, file)
        file.write("\n")
    for case in fixture["temperature"]:
        print(case["name"], case["expected"])


if __name__ == "__main__":
    main()
