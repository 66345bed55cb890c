#!/usr/bin/env python3
"""Interop, ember -> PyTorch: loads a MultiTaskModel that ember saved and checks PyTorch
predicts what ember predicted (within 1e-5 relative + 1e-6 absolute).

Usage: python3 check_ember_checkpoint.py MODEL_PATH IO_PATH
Exits 77 (a skip, for ctest) when torch is not installed.
"""
import os
import sys

try:
    import torch
except ImportError:
    print("torch is not installed: skipping (apt-get install python3-torch)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import load  # noqa: E402
from seed_models import MultiTaskModel  # noqa: E402


def main():
    state, metadata = load(sys.argv[1])
    assert metadata.get("module") == "MultiTaskModel", metadata
    model = MultiTaskModel()
    model.load_state_dict(state, strict=True)
    io, _ = load(sys.argv[2])
    with torch.no_grad():
        outputs = model(io["x"])
    worst = 0.0
    for i, out in enumerate(outputs):
        expected = io[f"out{i}"]
        excess = ((out - expected).abs() - (1e-5 * expected.abs() + 1e-6)).max().item()
        worst = max(worst, (out - expected).abs().max().item())
        if excess > 0:
            print(f"out{i} differs: PyTorch {out.flatten().tolist()} ember {expected.flatten().tolist()}")
            sys.exit(1)
    print(f"PyTorch loaded ember's checkpoint ({metadata}); max |difference| {worst:.3g}")


if __name__ == "__main__":
    main()
