"""Writes data/diabetes.csv.gz and data/diabetes_splits.csv.gz from scikit-learn's diabetes data.

Source: scikit-learn's sklearn/datasets/data/diabetes_data_raw.csv.gz and diabetes_target.csv.gz
(Debian's python3-sklearn), the data of Efron, Hastie, Johnstone and Tibshirani (2004), "Least
Angle Regression", Annals of Statistics 32(2): 442 patients, ten baseline variables and a
measure of disease progression one year later; BSD-3-Clause as shipped by scikit-learn.

diabetes.csv.gz has the columns age, sex, bmi, bp, s1..s6 (unscaled, as collected) and
progression (the target).

diabetes_splits.csv.gz holds the 20 random 90/10 train/test splits of the deep-ensembles
reproduction (examples/deep_ensemble_uci.cpp and bench/deep_ensemble_uci.py read the same
file): column test_k is 1 where row i of diabetes.csv.gz is in split k's test set, else 0.
As in Hernández-Lobato and Adams (2015), each split is a random permutation of the rows whose
first round(0.9 N) = 398 rows train and whose other 44 test; the permutations come from
numpy.random.RandomState(0).

Run: /usr/bin/python3 data/make_diabetes.py
"""
import gzip
import os

import numpy as np
from sklearn.datasets import load_diabetes

SPLITS = 20

try:
    diabetes = load_diabetes(scaled=False)  # scikit-learn >= 1.1: the original units
except TypeError:
    diabetes = load_diabetes()  # older versions only ship the scaled copy
here = os.path.dirname(os.path.abspath(__file__))


def write_gz(name, lines):
    path = os.path.join(here, name)
    with gzip.GzipFile(path, "wb", mtime=0) as raw:  # mtime=0: the same bytes on every run
        raw.write(("\n".join(lines) + "\n").encode())
    print(f"wrote {path}: {len(lines) - 1} rows")


rows = [",".join(list(diabetes.feature_names) + ["progression"])]
for features, target in zip(diabetes.data, diabetes.target):
    rows.append(",".join(f"{v:g}" for v in list(features) + [target]))
write_gz("diabetes.csv.gz", rows)

n = len(diabetes.target)
n_train = int(round(0.9 * n))
rng = np.random.RandomState(0)
test = np.zeros((n, SPLITS), dtype=int)
for k in range(SPLITS):
    test[rng.permutation(n)[n_train:], k] = 1
splits = [",".join(f"test_{k}" for k in range(SPLITS))]
splits += [",".join(str(v) for v in row) for row in test]
write_gz("diabetes_splits.csv.gz", splits)
