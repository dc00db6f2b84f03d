#!/usr/bin/env python3
"""Writes the small generated fuzz seeds (committed under Fuzz/seeds/): tiny JPEGs (baseline, progressive, gray,
4:2:0, EXIF-rotated), tiny safetensors files and tiny quantized model files of both formats (v1 int8 codes, v2
packed codes). The other seeds are copies of VOCdevkit/ annotations and Tests/*/Fixtures files.

Usage: /tmp/venv/bin/python Fuzz/make_seeds.py     (needs numpy and opencv; nothing else)
"""
import json
import os
import struct

import cv2
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype name, shape, raw bytes), in buffer order."""
    header, offset, blobs = {}, 0, []
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def pack(codes, bits):
    out = bytearray((len(codes) * bits + 7) // 8)
    bit = 0
    for c in codes:
        v = (c & 0xFF) & ((1 << bits) - 1)
        out[bit >> 3] |= (v << (bit & 7)) & 0xFF
        if (bit & 7) + bits > 8:
            out[(bit >> 3) + 1] |= v >> (8 - (bit & 7))
        bit += bits
    return bytes(out)


def quantized(version, bits=4, abits=8, with_map=False):
    o, c, k = 3, 2, 1
    points = [1, 2, 1]
    rows = sum(points)
    cin = c + 1 if with_map else c
    d = cin * k * k
    limit = (1 << (bits - 1)) - 1
    codes = [((i * 5) % (2 * limit + 1)) - limit for i in range(rows * d)]
    f32 = lambda xs: np.asarray(xs, dtype="<f4").tobytes()
    t = []
    if version == 2:
        t.append(("conv.codes", "U8", [len(pack(codes, bits))], pack(codes, bits)))
        t.append(("conv.points", "U8", [o], bytes(points)))
    else:
        t.append(("conv.codes", "I8", [rows, d], np.asarray(codes, dtype="i1").tobytes()))
        t.append(("conv.points", "I32", [o], np.asarray(points, dtype="<i4").tobytes()))
    t.append(("conv.scales", "F32", [rows], f32([0.01 * (r + 1) for r in range(rows)])))
    t.append(("conv.shape", "I64", [4], np.asarray([o, c, k, k], dtype="<i8").tobytes()))
    t.append(("conv.bias", "F32", [o], f32([0.1, -0.2, 0.3])))
    if abits < 32:
        t.append(("conv.act_range", "F32", [2], f32([0, 6])))
    if with_map:
        t.append(("conv.input_map", "I32", [cin], np.asarray([0, 1, 1], dtype="<i4").tobytes()))
    t.append(("head.weight", "F32", [2, 2, 1, 1], f32([1, 2, 3, 4])))
    meta = {"format": "mpq-quantized-v%d" % version, "method": "multipoint", "wbits": str(bits),
            "abits": str(abits), "arch": "mb2-ssd-lite", "architecture": "mb2-ssd-lite", "batchnorm": "folded",
            "quantized_layers": "conv", "layer_bits": str(bits), "source_sha256": "00", "toolkit_version": "fuzz",
            "class_names": '["a","b"]', "preprocessing": "mobilenet"}
    return safetensors(t, meta)


def jpegs():
    rng = np.random.default_rng(7)
    img = (rng.random((16, 24, 3)) * 255).astype(np.uint8)
    out = {
        "baseline.jpg": cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes(),
        "progressive.jpg": cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes(),
        "gray.jpg": cv2.imencode(".jpg", img[:, :, 0])[1].tobytes(),
        "restart.jpg": cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_RST_INTERVAL, 1])[1].tobytes(),
        "chroma444.jpg": cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                                    cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])[1].tobytes(),
    }
    # EXIF orientation 6 (APP1 right after SOI, little-endian TIFF, one IFD entry).
    base = out["baseline.jpg"]
    tiff = b"II*\x00\x08\x00\x00\x00" + b"\x01\x00" + b"\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00" + b"\x00" * 4
    app1 = b"Exif\x00\x00" + tiff
    out["exif6.jpg"] = base[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + base[2:]
    return out


def main():
    for name, data in jpegs().items():
        open(os.path.join(ROOT, "jpeg", name), "wb").write(data)
    st = os.path.join(ROOT, "safetensors")
    f32 = np.arange(6, dtype="<f4").tobytes()
    open(os.path.join(st, "small.safetensors"), "wb").write(safetensors(
        [("a", "F32", [2, 3], f32), ("b", "I64", [1], struct.pack("<q", 7)), ("c", "F16", [2], b"\x00<\x00@"),
         ("e", "U8", [0], b"")], {"k": "v"}))
    q = os.path.join(ROOT, "quantized")
    open(os.path.join(q, "v2-w4a8.safetensors"), "wb").write(quantized(2))
    open(os.path.join(q, "v2-w3-float-acts.safetensors"), "wb").write(quantized(2, bits=3, abits=32))
    open(os.path.join(q, "v2-w8-map.safetensors"), "wb").write(quantized(2, bits=8, with_map=True))
    open(os.path.join(q, "v1-w4a8.safetensors"), "wb").write(quantized(1))


if __name__ == "__main__":
    main()
