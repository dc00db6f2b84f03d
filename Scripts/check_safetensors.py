#!/usr/bin/env python3
"""Checks a safetensors file written by mpq against PyTorch, parsing the format by hand (no library):
8-byte LE header length, JSON header, raw little-endian buffer.

    MPQ_CHECKPOINTS_WRITE_DIR=/tmp swift test --skip-build --filter SafeTensorsTests
    python3 Scripts/check_safetensors.py /tmp/small_from_swift.safetensors Tests/CheckpointsTests/Fixtures/small_zip.pth
"""
import json
import struct
import sys

import numpy as np
import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
          "I64": torch.int64, "I32": torch.int32, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


def read_by_hand(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, "header not padded to 8 bytes"
    header = json.loads(data[8:8 + n].decode("utf-8"))
    buf = data[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors, end_prev = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, e = info["data_offsets"]
        assert b == end_prev, f"{name}: gap or overlap at {b}"
        end_prev = e
        dtype = DTYPES[info["dtype"]]
        raw = np.frombuffer(buf[b:e], dtype=np.uint8).copy()
        t = torch.from_numpy(raw).view(dtype) if len(raw) else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"])
    assert end_prev == len(buf), "buffer has trailing bytes"
    return tensors, meta


def main():
    tensors, meta = read_by_hand(sys.argv[1])
    reference = torch.load(sys.argv[2], weights_only=True)
    assert set(tensors) == set(reference), (set(tensors) ^ set(reference))
    for k, v in reference.items():
        assert tensors[k].dtype == v.dtype and tensors[k].shape == v.shape, k
        assert torch.equal(tensors[k], v.contiguous()), k
    try:
        from safetensors.torch import load_file  # optional: the reference library, if installed
        lib = load_file(sys.argv[1])
        assert all(torch.equal(lib[k], v.contiguous()) for k, v in reference.items())
        print("safetensors library: OK")
    except ImportError:
        print("safetensors library not installed; hand parser only")
    print(f"OK: {len(tensors)} tensors equal to {sys.argv[2]}; metadata {meta}")


if __name__ == "__main__":
    main()
