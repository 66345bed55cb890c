"""Writes data/digits.csv.gz from scikit-learn's copy of the UCI optical handwritten digits.

Source: scikit-learn's sklearn/datasets/data/digits.csv.gz (Debian's python3-sklearn), the
test set of the UCI "Optical Recognition of Handwritten Digits" data (Alpaydin and Kaynak,
1998): 1,797 images of 8x8 pixels with values 0..16, BSD-3-Clause as shipped by scikit-learn.
Columns: p0..p63 (the pixels, row by row), digit (0..9), odd (digit % 2) and high (digit >= 5).
Run: /usr/bin/python3 data/make_digits.py
"""
import gzip
import os

from sklearn.datasets import load_digits

digits = load_digits()
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.csv.gz")
with gzip.GzipFile(out, "wb", mtime=0) as raw:
    lines = [",".join([f"p{i}" for i in range(64)] + ["digit", "odd", "high"])]
    for pixels, digit in zip(digits.data.astype(int), digits.target):
        values = [str(v) for v in pixels] + [str(digit), str(digit % 2), str(int(digit >= 5))]
        lines.append(",".join(values))
    raw.write(("\n".join(lines) + "\n").encode())
print(f"wrote {out}: {len(digits.target)} rows")
