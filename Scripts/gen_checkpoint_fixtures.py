#!/usr/bin/env python3
"""Writes the checkpoint-reader test fixtures to Tests/CheckpointsTests/Fixtures/.

Regenerate with (torch 2.13.0+cpu, numpy):
    python3 Scripts/gen_checkpoint_fixtures.py
Benchmark file (not committed), a ~100 MB legacy .pth:
    python3 Scripts/gen_checkpoint_fixtures.py --large /tmp/large_legacy.pth

Tensor values are fixed by seeds; expected.json holds every value of every tensor. Legacy storage keys
(memory addresses) and zip timestamps differ from run to run, so regenerated files differ in those bytes.
"""
import argparse
import collections
import io
import json
import os
import pickle
import pickletools
import struct
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "CheckpointsTests", "Fixtures")


class Tiny(torch.nn.Module):
    """A conv + BN so the state dict is a real one (OrderedDict with `_metadata`, BUILD opcode)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)


def small_state_dict():
    torch.manual_seed(0)
    m = Tiny()
    with torch.no_grad():
        m.bn.running_mean.copy_(torch.randn(4))
        m.bn.running_var.copy_(torch.rand(4) + 0.5)
        m.bn.weight.copy_(torch.randn(4))
        m.bn.bias.copy_(torch.randn(4))
    m.bn.num_batches_tracked.fill_(12345)
    sd = m.state_dict()  # OrderedDict carrying `_metadata`
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.5 - 1.0
    sd["view.base"] = base
    sd["view.transposed"] = base.t()              # stride (1, 4), same storage
    sd["view.slice"] = base[1:, 1:3]              # offset 5, size (2, 2), stride (4, 1)
    sd["view.expanded"] = torch.tensor([1.5, -2.0, 3.25]).expand(2, 3)  # stride (0, 1)
    sd["half"] = (torch.randn(2, 3) * 4).half()
    sd["bf16"] = torch.randn(3).bfloat16()
    sd["double"] = torch.tensor([1.0 / 3.0, -2.5e-8], dtype=torch.float64)
    sd["int32"] = torch.tensor([-7, 0, 2**31 - 1], dtype=torch.int32)
    sd["int8"] = torch.tensor([-128, -1, 0, 127], dtype=torch.int8)
    sd["uint8"] = torch.tensor([[0, 255], [17, 128]], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["empty"] = torch.zeros(0, 3)
    sd["scalar"] = torch.tensor(2.75)
    return sd


def describe(sd):
    """Expected values: every element, flattened row-major; fp16/bf16 also as raw bits."""
    out = []
    for k, t in sd.items():
        flat = t.reshape(-1)
        entry = {"key": k, "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape)}
        if t.dtype in (torch.int64, torch.int32, torch.int8, torch.uint8, torch.bool):
            entry["values"] = [int(v) for v in flat.tolist()]
        else:
            entry["values"] = [float(v) for v in flat.double().tolist()]
        if t.dtype in (torch.float16, torch.bfloat16):
            entry["bits"] = [int(v) & 0xFFFF for v in flat.contiguous().view(torch.int16).tolist()]
        out.append(entry)
    return out


def to_python2_strings(pickle_bytes):
    """Re-emits one pickle with every BINUNICODE as a Python 2 `str`: SHORT_BINSTRING, except the
    'storage' tag which becomes BINSTRING (4-byte length), so both opcodes are exercised."""
    ops = list(pickletools.genops(pickle_bytes))
    out = bytearray()
    for i, (op, arg, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(pickle_bytes)
        if op.name == "BINUNICODE":
            raw = arg.encode("utf-8")
            if arg == "storage" or len(raw) >= 256:
                out += b"T" + struct.pack("<i", len(raw)) + raw
            else:
                out += b"U" + bytes([len(raw)]) + raw
        else:
            out += pickle_bytes[pos:end]
    return bytes(out)


def split_legacy(data):
    """Splits a legacy file into its five pickles and the raw storage tail."""
    f = io.BytesIO(data)
    parts = []
    for _ in range(5):
        start = f.tell()
        for _ in pickletools.genops(f):
            pass
        parts.append(data[start:f.tell()])
    return parts, data[f.tell():]


def legacy_header():
    return (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
            + pickle.dumps({"protocol_version": 1001, "little_endian": True,
                            "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2))


# GLOBAL 'os system', ('echo pwned',), REDUCE: what a hostile .pth does. Never loaded by Python here.
EVIL = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."


def rezip(zip_bytes, edit):
    """Copies a zip, passing each entry through `edit(name, data)` (None drops it); entries stay stored."""
    src = zipfile.ZipFile(io.BytesIO(zip_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = edit(info.filename, src.read(info.filename))
            if data is not None:
                dst.writestr(info.filename, data)
    return out.getvalue()


def corrupt_keeping_crc(zip_bytes, suffix):
    """Flips one data byte of the entry ending in `suffix` in place; the recorded CRC-32 no longer matches."""
    info = next(i for i in zipfile.ZipFile(io.BytesIO(zip_bytes)).infolist() if i.filename.endswith(suffix))
    raw = bytearray(zip_bytes)
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    data_at = info.header_offset + 30 + name_len + extra_len
    raw[data_at] ^= 0x40
    return bytes(raw)


class _Storage:
    """Stands for one storage while pickling a hand-made legacy file."""


class _Rebuild:
    """Pickles as REDUCE of a tensor rebuild function (what torch's Tensor.__reduce_ex__ emits)."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


class _LegacyPickler(pickle.Pickler):
    """Emits persistent ids with legacy `view_metadata` (PyTorch < 1.0 storage views)."""

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            # Root storage 'root' of 10 floats; this view is its elements 2..6 under the key 'view'.
            return ("storage", torch.FloatStorage, "root", "cuda:0", 10, ("view", 2, 5))
        return None


def old_style_legacy():
    """A legacy file as PyTorch 0.3/0.4 could write: a storage *view* (view_metadata), a tensor rebuilt by
    the 4-argument `_rebuild_tensor`, another by `_rebuild_tensor_v2`, a 'cuda:0' location."""
    storage = _Storage()
    sd = collections.OrderedDict()
    # view = root[2:7] = 1.5 * [2, 3, 4, 5, 6]; old: offset 0, size (5,) -> [3, 4.5, 6, 7.5, 9].
    sd["old"] = _Rebuild(torch._utils._rebuild_tensor, (storage, 0, (5,), (1,)))
    # v2: offset 1, size (2, 2), stride (2, 1) -> view[1..4] = [4.5, 6, 7.5, 9].
    sd["v2"] = _Rebuild(torch._utils._rebuild_tensor_v2, (storage, 1, (2, 2), (2, 1), False, collections.OrderedDict()))
    body = io.BytesIO()
    _LegacyPickler(body, protocol=2).dump(sd)
    tail = pickle.dumps(["root"], protocol=2) + struct.pack("<q", 10)
    tail += (torch.arange(10, dtype=torch.float32) * 1.5).numpy().tobytes()
    return legacy_header() + body.getvalue() + tail


def save_bytes(obj, legacy):
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def safetensors_by_hand(tensors, metadata):
    """safetensors without the library: header JSON + raw little-endian buffer."""
    header, buf = {}, bytearray()
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        raw = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        dtype = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
                 torch.int64: "I64", torch.int32: "I32", torch.int8: "I8", torch.uint8: "U8",
                 torch.bool: "BOOL"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [len(buf), len(buf) + len(raw)]}
        buf += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(buf)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", help="also write a ~100 MB legacy .pth here (benchmark, not committed)")
    args = parser.parse_args()
    if args.large:
        torch.manual_seed(1)
        big = collections.OrderedDict((f"layer{i}.weight", torch.randn(1024, 1024, 5)) for i in range(5))
        torch.save(big, args.large, _use_new_zipfile_serialization=False)
        print("wrote", args.large, os.path.getsize(args.large), "bytes")
        return

    os.makedirs(OUT, exist_ok=True)
    sd = small_state_dict()
    expected = {"generated_by": "python3 Scripts/gen_checkpoint_fixtures.py", "torch": torch.__version__,
                "small": describe(sd)}

    legacy = save_bytes(sd, legacy=True)
    write("small_legacy.pth", legacy)
    write("small_zip.pth", save_bytes(sd, legacy=False))
    buf = io.BytesIO()
    torch.save(sd, buf, _use_new_zipfile_serialization=False, pickle_protocol=4)  # FRAME, MEMOIZE, ...
    write("small_legacy_protocol4.pth", buf.getvalue())

    # Wrappers: the tensors are the same, so the same expected values apply (after unwrapping/stripping).
    meta = {"epoch": 7, "best_map": 0.5, "arch": "mb2-ssd-lite", "flag": True}
    write("wrapped_state_dict_zip.pth", save_bytes({"state_dict": sd, **meta}, legacy=False))
    module_sd = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
    write("wrapped_model_module_legacy.pth", save_bytes({"model": module_sd, "epoch": 3}, legacy=True))
    write("wrapped_net_zip.pth", save_bytes({"net": sd}, legacy=False))
    mixed = collections.OrderedDict(sd)
    mixed["epoch"] = 11
    write("mixed_top_level_legacy.pth", save_bytes(mixed, legacy=True))
    expected["wrapped_metadata"] = {
        "wrapped_state_dict_zip.pth": {"epoch": "7", "best_map": "0.5", "arch": "mb2-ssd-lite", "flag": "true"},
        "wrapped_model_module_legacy.pth": {"epoch": "3"},
        "wrapped_net_zip.pth": {},
        "mixed_top_level_legacy.pth": {"epoch": "11"},
    }

    # Python 2 style: same legacy file, strings as SHORT_BINSTRING/BINSTRING in all pickles.
    parts, tail = split_legacy(legacy)
    write("python2_legacy.pth", b"".join(to_python2_strings(p) for p in parts) + tail)

    write("old_style_views_legacy.pth", old_style_legacy())
    expected["old_style"] = {"old": [3.0, 4.5, 6.0, 7.5, 9.0], "v2": [4.5, 6.0, 7.5, 9.0]}

    # Hostile and broken files.
    write("malicious_legacy.pth", legacy_header() + EVIL + pickle.dumps([], protocol=2))
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", EVIL)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
    write("malicious_zip.pth", zbuf.getvalue())
    write("truncated_legacy.pth", legacy[: len(legacy) - 20])
    zip_bytes = save_bytes(sd, legacy=False)
    write("zip_missing_storage.pth", rezip(zip_bytes, lambda name, data: None if name.endswith("/data/0") else data))
    write("zip_short_storage.pth", rezip(zip_bytes, lambda name, data: data[:-4] if name.endswith("/data/0") else data))
    # Same size, one flipped byte, CRC recomputed by zipfile: only the CRC recorded by PyTorch is lost, so
    # write the original CRC back by patching the bytes after zipping.
    write("zip_bad_crc.pth", corrupt_keeping_crc(zip_bytes, "/data/0"))
    write("wrong_magic.pth", b"this is not a checkpoint, just text\n")
    write("wrong_magic_number.pth", pickle.dumps(0x1950A86A20F9469CFC6D, protocol=2) + legacy[14:])

    # safetensors written by hand (no library), every supported dtype, plus metadata.
    st = collections.OrderedDict([(k, sd[k]) for k in ["conv.weight", "half", "bf16", "double", "bn.num_batches_tracked",
                                                         "int32", "int8", "uint8", "bool", "empty", "scalar"]])
    st["view.transposed"] = sd["view.transposed"].contiguous()
    write("hand.safetensors", safetensors_by_hand(st, {"format": "pt", "source": "gen_checkpoint_fixtures"}))
    expected["safetensors"] = describe(st)
    expected["safetensors_metadata"] = {"format": "pt", "source": "gen_checkpoint_fixtures"}

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print("wrote fixtures to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
