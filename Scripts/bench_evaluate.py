#!/usr/bin/env python3
"""`mpq evaluate` end to end vs the PyTorch reference pipeline on the same images, same checkpoint.

    swift build -c release --product mpq
    python3 Scripts/bench_evaluate.py [--mpq .build/release/mpq] [--root VOCdevkit/MPQDemo] [--split test]
        [--model FILE] [--width 1.0] [--threads 2]

Without --model, a full-size MobileNetV2 SSD-Lite with seeded random weights (classes from the dataset's
labels.txt) is written to a temporary file: it measures speed and cross-checks the two pipelines' mAP (both
score with the devkit protocol: Scripts/demo/voc_eval.py on the Python side), not detection quality.
Prints images/s of each side (decode + preprocess + network + NMS + scoring; model loading excluded from
neither) and both mAPs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ssd_nets  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mpq", default=os.path.join(HERE, "..", ".build", "release", "mpq"))
    ap.add_argument("--root", default=os.path.join(HERE, "..", "VOCdevkit", "MPQDemo"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--model")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mpq-bench-eval-")
    model = args.model
    if model is None:
        with open(os.path.join(args.root, "labels.txt")) as f:
            classes = [line.strip() for line in f if line.strip()]
        torch.manual_seed(0)
        net = ssd_nets.build("mb2-ssd-lite", num_classes=len(classes) + 1, width_mult=args.width)
        model = os.path.join(work, "random-mb2-ssd-lite.pth")
        torch.save(net.state_dict(), model)
    with open(os.path.join(args.root, "ImageSets", "Main", args.split + ".txt")) as f:
        images = sum(1 for line in f if line.strip())

    t = time.time()
    out = subprocess.run([args.mpq, "evaluate", "--model", model, "--voc-root", args.root, "--split", args.split,
                          "--results", os.path.join(work, "mpq"), "--threads", str(args.threads), "--json", "-"],
                         capture_output=True, text=True, check=True)
    mpq_seconds = time.time() - t
    mpq_map = json.loads(out.stdout)["mAP"]

    t = time.time()
    ref_json = os.path.join(work, "reference.json")
    subprocess.run([sys.executable, os.path.join(HERE, "demo", "evaluate_demo.py"), model, "--root", args.root,
                    "--split", args.split, "--width", str(args.width), "--threads", str(args.threads),
                    "--json", ref_json], capture_output=True, text=True, check=True)
    ref_seconds = time.time() - t
    with open(ref_json) as f:
        ref_map = json.load(f)["map_voc07"]

    print(f"{images} images, {args.threads} threads, model {model}")
    print(f"mpq evaluate      : {mpq_seconds:7.2f} s  {images / mpq_seconds:6.2f} img/s  mAP(voc07) {mpq_map:.6f}")
    print(f"PyTorch reference : {ref_seconds:7.2f} s  {images / ref_seconds:6.2f} img/s  mAP(voc07) {ref_map:.6f}")


if __name__ == "__main__":
    main()
