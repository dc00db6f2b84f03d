#!/usr/bin/env python3
"""The int8 engine against the simulated one on the demo's full test split: VOC07 mAP of each engine and the
largest |Δscore| over the raw softmax outputs of the first --images test images, for w8a8 rtn, w4a8 rtn and w4a8
multipoint 4.25 (64 calibration images, as the demo).

Usage:
  swift build -c release -Xswiftc -Ounchecked -Xcc -march=native --product mpq
  python3 Scripts/int8_vs_simulated.py [--images 20] [--threads 2] [--json out.json]

Needs numpy only (it reads the raw dumps with its own safetensors reader).
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIGS = [("w8a8 rtn", ["--method", "rtn", "--wbits", "8"]),
           ("w4a8 rtn", ["--method", "rtn", "--wbits", "4"]),
           ("w4a8 multipoint 4.25", ["--method", "multipoint", "--wbits", "4", "--avg-bits", "4.25"])]


def read_f32(path, key):
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        start, end = header[key]["data_offsets"]
        f.seek(8 + n + start)
        return np.frombuffer(f.read(end - start), dtype="<f4")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=20, help="test images whose raw scores are compared")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mpq", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    mpq = args.mpq or os.path.join(subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT,
                                                  capture_output=True, text=True).stdout.strip(), "mpq")
    demo = os.path.join(ROOT, "VOCdevkit/MPQDemo")
    ids = open(os.path.join(demo, "ImageSets/Main/test.txt")).read().split()[:args.images]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in CONFIGS:
            out = os.path.join(tmp, name.replace(" ", "-") + ".safetensors")
            q = subprocess.run([mpq, "quantize", "--abits", "8", "--out", out, "--threads", str(args.threads)] + flags,
                               capture_output=True, text=True)
            if q.returncode:
                sys.exit(q.stderr)
            row = {"config": name}
            for engine in ["int8", "simulated"]:
                e = subprocess.run([mpq, "evaluate", "--model", out, "--engine", engine, "--results",
                                    os.path.join(tmp, f"{name}-{engine}"), "--json", "-", "--bootstrap", "0",
                                    "--threads", str(args.threads)], capture_output=True, text=True)
                if e.returncode:
                    sys.exit(e.stderr)
                row[f"map_{engine}"] = json.loads(e.stdout)["mAP"]
            worst = 0.0
            for i in ids:
                dumps = {}
                for engine in ["int8", "simulated"]:
                    raw = os.path.join(tmp, f"raw-{engine}.safetensors")
                    d = subprocess.run([mpq, "detect", "--model", out, "--engine", engine, "--dump-raw", raw,
                                        os.path.join(demo, "JPEGImages", i + ".jpg")], capture_output=True, text=True)
                    if d.returncode:
                        sys.exit(d.stderr)
                    dumps[engine] = read_f32(raw, "scores")
                worst = max(worst, float(abs(dumps["int8"] - dumps["simulated"]).max()))
            row["max_abs_delta_score"] = worst
            row["delta_map_points"] = 100 * (row["map_int8"] - row["map_simulated"])
            rows.append(row)
            print(f"{name:22s} mAP int8 {row['map_int8']:.4f}  simulated {row['map_simulated']:.4f}  "
                  f"Δ {row['delta_map_points']:+.3f} points  max |Δscore| {worst:.2e} ({len(ids)} images)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
