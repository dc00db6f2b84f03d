#!/usr/bin/env python3
"""Score a demo state_dict on a VOC split with the devkit protocol (VOC07 11-point and VOC2010+ AP).

    python3 Scripts/demo/evaluate_demo.py VOCdevkit/MPQDemo/model/mb2-ssd-lite-demo.pth [--split test]

Same detector path as Scripts/ssd_nets.py (reference preprocessing, softmax, decoding, per-class NMS at IoU
0.45 over the 200 best boxes with score > 0.01), detections shifted to 1-based pixels as comp4 files are.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import ssd_nets  # noqa: E402
import voc_eval  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--root", default=os.path.normpath(os.path.join(HERE, "..", "..", "VOCdevkit", "MPQDemo")))
    ap.add_argument("--split", default="test")
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write {'map_voc07', 'map_voc2010', 'ap_voc07': {...}} here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    classes = voc_eval.read_labels(args.root)
    net = ssd_nets.build("mb2-ssd-lite", num_classes=len(classes) + 1, width_mult=args.width)
    net.load_state_dict(torch.load(args.model, weights_only=True))
    det = ssd_nets.Detector(net, "mb2-ssd-lite")
    gt, dets = {}, {c: [] for c in classes}
    for iid in voc_eval.read_split(args.root, args.split):
        gt[iid] = voc_eval.read_annotation(f"{args.root}/Annotations/{iid}.xml")[2]
        found, _, _ = det.predict(ssd_nets.read_rgb(f"{args.root}/JPEGImages/{iid}.jpg"))
        for c, p, x1, y1, x2, y2 in found:
            dets[classes[c - 1]].append((iid, p, x1 + 1, y1 + 1, x2 + 1, y2 + 1))
    ap07 = voc_eval.evaluate(gt, dets, classes, voc07=True)
    ap10 = voc_eval.evaluate(gt, dets, classes, voc07=False)
    for c in classes:
        print(f"{c:10s} AP07 {ap07[c]:.4f}  AP10 {ap10[c]:.4f}")
    m07, m10 = float(np.nanmean(list(ap07.values()))), float(np.nanmean(list(ap10.values())))
    print(f"mAP VOC07 11-point {m07:.4f}   VOC2010+ {m10:.4f}   ({len(gt)} images)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"map_voc07": m07, "map_voc2010": m10, "ap_voc07": ap07, "ap_voc2010": ap10}, f, indent=1)


if __name__ == "__main__":
    main()
