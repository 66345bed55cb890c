"""Writes interop_dtypes.safetensors: one small tensor per dtype ember loads, written from
PyTorch by safetensors_io.py. tests/test_safetensors.cpp checks the values, which are
exact in every dtype (or, for the F64 ones, round to float32 in a known way).

Also writes interop_batchnorm.safetensors: a BatchNorm1d's state dict after three training
batches ("bn." + PyTorch's names, num_batches_tracked as int64), an input "x", and the
module's outputs on it in eval mode ("y_eval") and in training mode ("y_train", which also
moves the running statistics to "running_mean_after" and "running_var_after").

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
        # 2^24 = 16777216 is the largest integer magnitude float32 holds exactly.
        "i64": torch.tensor([0, -3, 16777216, -16777216], dtype=torch.int64),
        "i32": torch.tensor([[7, -1], [1000000, 2]], dtype=torch.int32),
        "i16": torch.tensor([-32768, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, 127, 0], dtype=torch.int8),
        "u8": torch.tensor([0, 255, 9], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True], dtype=torch.bool),
    }
    metadata = {"format": "pt", "written_by": "tests/reference/make_interop_fixture.py"}
    save(os.path.join(HERE, "interop_dtypes.safetensors"), tensors, metadata)

    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.5, -0.5, 2.0]))
        bn.bias.copy_(torch.tensor([0.25, 0.0, -1.0]))
        for _ in range(3):
            bn(torch.randn(8, 3) * 2.0 + 1.0)
        x = torch.randn(5, 3)
        bn.eval()
        y_eval = bn(x)
        state = {"bn." + name: value.clone() for name, value in bn.state_dict().items()}
        bn.train()
        y_train = bn(x)
    assert state["bn.num_batches_tracked"].dtype == torch.int64
    tensors = dict(state)
    tensors.update({"x": x, "y_eval": y_eval, "y_train": y_train,
                    "running_mean_after": bn.running_mean.clone(),
                    "running_var_after": bn.running_var.clone()})
    save(os.path.join(HERE, "interop_batchnorm.safetensors"), tensors, metadata)


if __name__ == "__main__":
    main()
