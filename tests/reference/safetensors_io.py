"""A tiny safetensors writer and reader for ember's reference fixtures.

Needs only struct, json and torch, so fixtures can be generated without the `safetensors`
package. The layout: an 8-byte little-endian header length N, N bytes of JSON header
(padded with spaces so the data starts 8-byte aligned), then the tensors' bytes.

    save(path, {"w": torch.ones(2, 3)}, metadata={"step": "10"})
    tensors, metadata = load(path)
"""

import json
import struct
import sys

import torch

DTYPE_NAMES = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
DTYPES = {name: dtype for dtype, name in DTYPE_NAMES.items()}


def _tensor_bytes(tensor):
    """The tensor's elements in row-major order, as little-endian bytes."""
    # A fresh row-major copy: a zero-size tensor can keep stride 0 through .contiguous()
    # (an expanded gradient, say), and then it cannot be reinterpreted as bytes.
    flat = tensor.detach().cpu().clone(memory_format=torch.contiguous_format).reshape(-1)
    # Viewing as bytes works for every dtype, bfloat16 included (numpy has no bfloat16).
    return bytes(flat.view(torch.uint8).tolist())


def save(path, tensors, metadata=None):
    """Writes a dict of name -> tensor (of a dtype in DTYPE_NAMES), in dict order."""
    assert sys.byteorder == "little", "torch's bytes are written as they are in memory"
    header = {}
    if metadata:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        header["__metadata__"] = dict(metadata)
    chunks = []
    offset = 0
    for name, tensor in tensors.items():
        if tensor.dtype not in DTYPE_NAMES:
            raise ValueError(f"save: tensor '{name}' has unsupported dtype {tensor.dtype}")
        data = _tensor_bytes(tensor)
        header[name] = {
            "dtype": DTYPE_NAMES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in chunks:
            f.write(data)


def load(path):
    """Reads a file written by save() or by ember: returns (dict of tensors, metadata).

    Tensors keep their stored dtype (one of DTYPE_NAMES) and come in offset order.
    """
    with open(path, "rb") as f:
        content = f.read()
    (header_size,) = struct.unpack("<Q", content[:8])
    header = json.loads(content[8 : 8 + header_size].decode("utf-8"))
    data = content[8 + header_size :]
    metadata = header.pop("__metadata__", None) or {}
    entries = sorted(header.items(), key=lambda item: tuple(item[1]["data_offsets"]))
    tensors = {}
    expected_begin = 0
    for name, info in entries:
        begin, end = info["data_offsets"]
        if begin != expected_begin:
            raise ValueError(f"load: tensor '{name}' starts at {begin}, not {expected_begin}")
        dtype = DTYPES[info["dtype"]]
        shape = info["shape"]
        if end > begin:
            raw = bytearray(data[begin:end])  # frombuffer wants a writable buffer
            tensor = torch.frombuffer(raw, dtype=dtype).reshape(shape)
        else:
            tensor = torch.empty(shape, dtype=dtype)  # frombuffer refuses empty buffers
        if tensor.numel() * tensor.element_size() != end - begin:
            raise ValueError(f"load: tensor '{name}' has the wrong byte size")
        tensors[name] = tensor
        expected_begin = end
    if expected_begin != len(data):
        raise ValueError(f"load: data is {len(data)} bytes, tensors end at {expected_begin}")
    return tensors, metadata
