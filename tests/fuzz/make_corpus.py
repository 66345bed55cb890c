#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus, tests/fuzz/corpus/: small safetensors files, valid and not.

The valid ones cover every loadable dtype, metadata, zero-size tensors and the state dict of
fuzz_module_load's model (Linear(2, 3) then BatchNorm1d(3)); the invalid ones break one rule
of the format each, as tests/test_safetensors_corpus.cpp does. Mutating both kinds, libFuzzer
reaches every check quickly. Run from anywhere: python3 tests/fuzz/make_corpus.py
"""

import json
import pathlib
import shutil
import struct

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"

SIZES = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
         "U8": 1, "BOOL": 1}
PACK = {"F32": "<f", "F64": "<d", "F16": "<e", "I64": "<q", "I32": "<i", "I16": "<h",
        "I8": "<b", "U8": "<B", "BOOL": "<B"}


def data_of(dtype, values):
    if dtype == "BF16":  # the top half of each float32
        return b"".join(struct.pack("<f", v)[2:] for v in values)
    return b"".join(struct.pack(PACK[dtype], v) for v in values)


def file_from_header(header_text, data=b"", pad=True):
    """The 8-byte size, the header text (padded to 8 bytes like the writers do), the data."""
    header = header_text.encode("utf-8") if isinstance(header_text, str) else header_text
    if pad:
        header += b" " * ((8 - len(header) % 8) % 8)
    return struct.pack("<Q", len(header)) + header + data


def valid_file(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, values), laid out in order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, values in tensors:
        payload = data_of(dtype, values)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    return file_from_header(json.dumps(header, separators=(",", ":")), data)


def main():
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    CORPUS.mkdir()
    seeds = {}

    # Valid files.
    seeds["valid_empty"] = valid_file([])
    seeds["valid_f32_metadata"] = valid_file(
        [("w", "F32", [2, 2], [1.5, -2.0, 0.0, 4.0])], {"format": "pt", "note": "caf\u00e9"})
    seeds["valid_null_metadata_extra_key"] = file_from_header(
        '{"__metadata__":null,"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":[1,{}]}}',
        data_of("F32", [3.0]))
    for dtype in SIZES:
        values = [0, 1] if dtype == "BOOL" else [1, -1] if dtype != "U8" else [1, 255]
        seeds["valid_" + dtype.lower()] = valid_file([("t", dtype, [2], values)])
    seeds["valid_zero_size_and_scalar"] = valid_file(
        [("empty", "F32", [0, 3], []), ("scalar", "F64", [], [7.0]), ("z", "I8", [2, 0], [])])
    linear_and_batchnorm = [
        ("0.weight", "F32", [3, 2], [0.1, -0.2, 0.3, -0.4, 0.5, -0.6]),
        ("0.bias", "F32", [3], [0.0, 1.0, -1.0]),
        ("1.weight", "F32", [3], [1.0, 1.0, 1.0]),
        ("1.bias", "F32", [3], [0.0, 0.0, 0.0]),
        ("1.running_mean", "F32", [3], [0.0, 0.5, -0.5]),
        ("1.running_var", "F32", [3], [1.0, 2.0, 0.5]),
    ]
    seeds["module_state_f32"] = valid_file(
        linear_and_batchnorm + [("1.num_batches_tracked", "F32", [], [3.0])],
        {"module": "Sequential"})
    seeds["module_state_pytorch_dtypes"] = valid_file(
        [(n, "F16" if n.startswith("0.") else d, s, v) for n, d, s, v in linear_and_batchnorm]
        + [("1.num_batches_tracked", "I64", [], [3])])
    seeds["module_state_wrong_shape"] = valid_file(
        [("0.weight", "F32", [2, 3], [0.0] * 6)] + linear_and_batchnorm[1:])

    # Invalid files, one rule each.
    w = '"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
    one = data_of("F32", [1.0])
    seeds["bad_too_short"] = b"\x02\x00\x00\x00{}"
    seeds["bad_header_size_wraps"] = struct.pack("<Q", 2**64 - 1) + b"{}"
    seeds["bad_header_size_cap"] = struct.pack("<Q", 100_000_000) + b"{}"
    seeds["bad_header_past_end"] = struct.pack("<Q", 100) + b"{}"
    seeds["bad_utf8"] = file_from_header(b'{"w\xff":{}}')
    seeds["bad_json"] = file_from_header('{"w":', pad=False)
    seeds["bad_number_overflow"] = file_from_header(
        '{"w":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}}', one)
    seeds["bad_not_object"] = file_from_header("[1,2]")
    seeds["bad_deep_nesting"] = file_from_header(
        '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":' + "[" * 200 + "]" * 200
        + "}}", one)
    seeds["bad_entry_not_object"] = file_from_header('{"w":[0,4]}', one)
    seeds["bad_missing_dtype"] = file_from_header('{"w":{"shape":[1],"data_offsets":[0,4]}}', one)
    seeds["bad_dtype_unknown"] = file_from_header(
        '{"w":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}}', struct.pack("<Q", 5))
    seeds["bad_shape_negative"] = file_from_header(
        '{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', one)
    seeds["bad_shape_overflow"] = file_from_header(
        '{"w":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904,0],'
        '"data_offsets":[0,0]}}')
    seeds["bad_shape_overflow_zero_first"] = file_from_header(
        '{"w":{"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],'
        '"data_offsets":[0,0]}}')
    seeds["bad_offsets_three"] = file_from_header(
        '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}', one)
    seeds["bad_offsets_reversed"] = file_from_header(
        '{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', one)
    seeds["bad_gap"] = file_from_header(
        '{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', one + one)
    seeds["bad_overlap"] = file_from_header(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
        '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', one * 3)
    seeds["bad_past_end"] = file_from_header(
        '{"w":{"dtype":"F32","shape":[25000000000],"data_offsets":[0,100000000000]}}', one)
    seeds["bad_size_mismatch"] = file_from_header(
        '{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', one + one)
    seeds["bad_trailing_byte"] = file_from_header("{" + w + "}", one + b"x")
    seeds["bad_duplicate_key"] = file_from_header("{" + w + "," + w + "}", one)
    seeds["bad_metadata_number"] = file_from_header('{"__metadata__":{"epoch":3},' + w + "}", one)
    seeds["bad_metadata_as_tensor"] = file_from_header(
        '{"__metadata__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', one)
    seeds["bad_integer_inexact"] = file_from_header(
        '{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', struct.pack("<q", 2**24 + 1))
    seeds["bad_bool"] = file_from_header(
        '{"b":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}}', b"\x02")

    for name, data in seeds.items():
        (CORPUS / (name + ".safetensors")).write_bytes(data)
    print(f"wrote {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes, to {CORPUS}")


if __name__ == "__main__":
    main()
