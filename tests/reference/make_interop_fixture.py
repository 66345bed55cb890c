"""Writes interop_dtypes.safetensors: one small tensor per dtype ember loads, written from
PyTorch by safetensors_io.py. tests/test_safetensors.cpp checks the values, which are
exact in every dtype (or, for the F64 ones, round to float32 in a known way).

    /usr/bin/python3 tests/reference/make_interop_fixture.py
"""

import math
import os

import torch

from safetensors_io import save

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    tensors = {
        "f32": torch.tensor([[1.5, -2.25], [0.0, 1024.0]], dtype=torch.float32),
        # 0.1 rounds to 0.1f; 1e300 is beyond float32 and becomes inf.
        "f64": torch.tensor([-0.5, 3.75, 0.1, 1e300], dtype=torch.float64),
        # 65504 is F16's largest finite value, 2^-24 its smallest subnormal.
        "f16": torch.tensor([[1.0, -2.0, 65504.0], [2.0**-24, math.inf, -0.0]], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -3.5, 2.0**100, 0.0078125], dtype=torch.bfloat16),
        "scalar": torch.tensor(7.0, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float16),
    }
    metadata = {"format": "pt", "written_by": "tests/reference/make_interop_fixture.py"}
    save(os.path.join(HERE, "interop_dtypes.safetensors"), tensors, metadata)


if __name__ == "__main__":
    main()
