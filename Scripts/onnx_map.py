#!/usr/bin/env python3
"""VOC07 mAP of an exported ONNX model run by ONNX Runtime, next to mpq's own mAP of the model it came from.

    python3 Scripts/onnx_map.py --onnx demo-mp4.onnx --model demo-mp4.safetensors [--limit 24] [--json]

Runs ONNX Runtime (CPU) over the split's images: OpenCV decode and INTER_LINEAR resize to 300x300 on uint8,
normalisation from the model's metadata (mpq.mean, mpq.std, mpq.channel_order), then mpq's post-processing
(per class: score > 0.01, the 200 best, greedy NMS at IoU 0.45, qfgaohao's IoU formula), boxes scaled to the
image's pixels. Writes devkit result files (comp4_det_<split>_<class>.txt, 1-based boxes) and scores them with
`mpq evaluate-detections`; scores the same images with `mpq evaluate --model MODEL --engine ENGINE`; prints both
mAPs (--json: one JSON object). With --limit N only the first N images of the split are used (a split file of
those ids in a scratch dataset that links the real Annotations and JPEGImages). Needs numpy, onnx, onnxruntime
and opencv-python-headless (Scripts/python-env.sh puts them in .venv-tests) and a built mpq (--mpq, default
.build/release/mpq, else .build/debug/mpq, else mpq on PATH).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import cv2
import numpy as np
import onnx
import onnxruntime as ort

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_mpq(explicit):
    if explicit:
        return explicit
    for config in ("release", "debug"):
        path = os.path.join(REPO, ".build", config, "mpq")
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("mpq")
    if not found:
        sys.exit("onnx_map.py: no mpq binary (build it, or pass --mpq)")
    return found


def iou(rest, best):
    """qfgaohao's IoU of boxes `rest` [N, 4] with `best` [4], float32."""
    lt = np.maximum(rest[:, :2], best[:2])
    rb = np.minimum(rest[:, 2:], best[2:])
    wh = np.maximum(rb - lt, np.float32(0))
    inter = wh[:, 0] * wh[:, 1]
    area = lambda b: np.maximum(b[..., 2] - b[..., 0], 0) * np.maximum(b[..., 3] - b[..., 1], 0)
    return inter / (area(rest) + area(best) - inter + np.float32(1e-5))


def detections(scores, boxes, width, height, threshold=0.01, iou_threshold=0.45, limit=200):
    """[(class index without background, score, x1, y1, x2, y2)] in pixels, per class in NMS order."""
    out = []
    for c in range(1, scores.shape[1]):
        idx = np.nonzero(scores[:, c] > threshold)[0]
        if idx.size == 0:
            continue
        order = idx[np.lexsort((idx, -scores[idx, c]))][:limit]
        while order.size:
            best = order[0]
            out.append((c - 1, scores[best, c], *(boxes[best] * np.array([width, height, width, height], np.float32))))
            if order.size == 1:
                break
            rest = order[1:]
            order = rest[iou(boxes[rest], boxes[best]) <= np.float32(iou_threshold)]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", required=True, help="the exported model (with post-processing: scores, boxes)")
    ap.add_argument("--model", required=True, help="the mpq model file it was exported from")
    ap.add_argument("--voc-root", default=os.path.join(REPO, "VOCdevkit", "MPQDemo"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=0, help="only the first N images of the split (0 = all)")
    ap.add_argument("--engine", default="simulated", help="mpq's engine for its own mAP (simulated or int8)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mpq", default=None)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args()
    mpq = find_mpq(args.mpq)

    meta = {p.key: p.value for p in onnx.load(args.onnx, load_external_data=False).metadata_props}
    mean = np.array(json.loads(meta["mpq.mean"]), np.float32).reshape(3, 1, 1)
    std = np.array(json.loads(meta["mpq.std"]), np.float32).reshape(3, 1, 1)
    classes = json.loads(meta["mpq.classes"])[1:]
    size = int(meta.get("mpq.input_size", "300"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])

    ids = [line.split()[0] for line in open(os.path.join(args.voc_root, "ImageSets", "Main", args.split + ".txt"))
           if line.strip()]
    if args.limit:
        ids = ids[:args.limit]
    scratch = tempfile.mkdtemp(prefix="onnx-map-")
    try:
        root, split = args.voc_root, args.split
        if args.limit:
            # A dataset whose split is the first N ids (Annotations, JPEGImages and labels linked).
            root, split = os.path.join(scratch, "voc"), f"{args.split}-first{len(ids)}"
            os.makedirs(os.path.join(root, "ImageSets", "Main"))
            for name in ("Annotations", "JPEGImages", "labels.txt"):
                source = os.path.join(os.path.abspath(args.voc_root), name)
                if os.path.exists(source):
                    os.symlink(source, os.path.join(root, name))
            with open(os.path.join(root, "ImageSets", "Main", split + ".txt"), "w") as f:
                f.write("\n".join(ids) + "\n")
        results = os.path.join(scratch, "results")
        os.makedirs(results)
        lines = {c: [] for c in range(len(classes))}
        for image_id in ids:
            bgr = cv2.imread(os.path.join(args.voc_root, "JPEGImages", image_id + ".jpg"), cv2.IMREAD_COLOR)
            height, width = bgr.shape[:2]
            rgb = bgr[:, :, ::-1] if meta.get("mpq.channel_order", "rgb") == "rgb" else bgr
            resized = cv2.resize(np.ascontiguousarray(rgb), (size, size), interpolation=cv2.INTER_LINEAR)
            x = ((resized.transpose(2, 0, 1).astype(np.float32) - mean) / std)[None]
            scores, boxes = session.run(["scores", "boxes"], {"image": x})
            for c, score, x1, y1, x2, y2 in detections(scores[0], boxes[0], np.float32(width), np.float32(height)):
                one = np.float32(1)
                lines[c].append(f"{image_id} {float(score)!r} {float(x1 + one)!r} {float(y1 + one)!r} "
                                f"{float(x2 + one)!r} {float(y2 + one)!r}\n")
        for c, name in enumerate(classes):
            with open(os.path.join(results, f"comp4_det_{split}_{name}.txt"), "w") as f:
                f.writelines(lines[c])
        scored = subprocess.run([mpq, "evaluate-detections", "--voc-root", root, "--split", split, "--results",
                                 results, "--bootstrap", "0", "--json", "-"], capture_output=True, text=True)
        if scored.returncode != 0:
            sys.exit(f"mpq evaluate-detections failed: {scored.stderr.strip()}")
        ort_map = json.loads(scored.stdout)["mAP"]
        own = subprocess.run([mpq, "evaluate", "--model", args.model, "--voc-root", root, "--split", split,
                              "--engine", args.engine, "--threads", str(args.threads), "--results",
                              os.path.join(scratch, "mpq-results"), "--bootstrap", "0", "--json", "-"],
                             capture_output=True, text=True)
        if own.returncode != 0:
            sys.exit(f"mpq evaluate failed: {own.stderr.strip()}")
        mpq_map = json.loads(own.stdout)["mAP"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = {"images": len(ids), "split": args.split, "onnxruntime_map": ort_map, "mpq_map": mpq_map,
              "mpq_engine": args.engine, "difference_points": 100 * (ort_map - mpq_map)}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{len(ids)} images of {args.split}: ONNX Runtime mAP {100 * ort_map:.2f}, "
              f"mpq ({args.engine}) mAP {100 * mpq_map:.2f}, difference {report['difference_points']:+.2f} points")


if __name__ == "__main__":
    main()
