#!/usr/bin/env python3
"""Independent reference for the paired image bootstrap of VOC mAP (Sources/VOC/Evaluation/MAPBootstrap.swift).

Regenerate the test fixture (numpy only, deterministic):
    python3 Scripts/bootstrap_reference.py
Writes Tests/VOCTests/Fixtures/bootstrap/paired_bootstrap.json, read by Tests/VOCTests/MAPBootstrapTests.swift.

Score an existing case instead (the JSON layout below without "expected"; adds "expected" and prints it):
    python3 Scripts/bootstrap_reference.py --case case.json [--out scored.json]

Nothing here shares code or shortcuts with the Swift side. For every resample the resampled data set is built in
full: an image drawn k times becomes k distinct images (its objects copied k times, each detection of it copied
k times, copies of one detection adjacent, detections kept in list order otherwise) and that set is scored with a
plain VOCevaldet.m-style loop (stable sort by descending score, inclusive-pixel overlap over the intersecting boxes
of the detection's own image, ovmax >= 0.5, difficult -> ignored, taken -> false positive; precision 0 where only
ignored detections have been seen; VOC07 = sum of max(prec[rec >= t]) / 11 over t in arange(0, 1.1, 0.1),
VOC10 = area under the precision envelope; classes without non-difficult objects left out of the mAP).

Resample b of n images draws n positions, draw j = floor(x * n / 2^64) with x the (b*n + j)-th output (0-based)
of SplitMix64 seeded with the seed. Interval: sorted values v, [v[floor(0.025 (B-1))], v[ceil(0.975 (B-1))]].

JSON: {"seed": "<uint64 as text>", "resamples": B, "classNames": [...], "imageIDs": [...],
       "objects": [[{"class": c, "box": [x1, y1, x2, y2], "difficult": bool}, ...] per image],
       "models": [[[[image, score, x1, y1, x2, y2], ...] per class] per model],
       "expected": {"splitmix": [first 4 outputs as text], "drawn": [draws of resamples 0 and 1],
                    "voc07" / "voc10": {"maps": [[mAP or null per resample] per model],
                                        "intervals": [[lo, hi] per model], "delta_1_minus_0": [lo, hi]}}}
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_eval_fixtures import ap07, ap10  # noqa: E402  (the devkit AP rules, written once)

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "VOCTests", "Fixtures", "bootstrap",
                   "paired_bootstrap.json")


def splitmix64(seed):
    state = seed & MASK
    while True:
        state = (state + GAMMA) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def resamples(n, count, seed):
    gen = splitmix64(seed)
    return [[(next(gen) * n) >> 64 for _ in range(n)] for _ in range(count)]


def devkit_overlap(d, g):
    iw = min(d[2], g[2]) - max(d[0], g[0]) + 1.0
    ih = min(d[3], g[3]) - max(d[1], g[1]) + 1.0
    if iw > 0 and ih > 0:
        ua = (d[2] - d[0] + 1.0) * (d[3] - d[1] + 1.0) + (g[2] - g[0] + 1.0) * (g[3] - g[1] + 1.0) - iw * ih
        return iw * ih / ua
    return None


def class_ap(gt, dets, metric):
    """gt: {image: [(box, difficult)]}; dets: [(image, score, box)] in list order."""
    npos = sum(1 for objs in gt.values() for _, diff in objs if not diff)
    if npos == 0:
        return None
    scores = np.array([d[1] for d in dets], dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    taken = {img: [False] * len(objs) for img, objs in gt.items()}
    tp = np.zeros(len(dets))
    fp = np.zeros(len(dets))
    for k, d in enumerate(order):
        img, _, b = dets[d]
        ovmax, jmax = -np.inf, -1
        for j, (g, _) in enumerate(gt.get(img, [])):
            ov = devkit_overlap(b, g)
            if ov is not None and ov > ovmax:
                ovmax, jmax = ov, j
        if ovmax >= 0.5:
            if gt[img][jmax][1]:
                continue
            if not taken[img][jmax]:
                taken[img][jmax] = True
                tp[k] = 1
            else:
                fp[k] = 1
        else:
            fp[k] = 1
    tp = np.cumsum(tp)
    fp = np.cumsum(fp)
    rec = tp / float(npos)
    denom = tp + fp
    prec = np.where(denom > 0, tp / np.maximum(denom, 1e-300), 0.0)
    return ap07(prec, rec) if metric == "voc07" else ap10(prec, rec)


def resampled_map(case, model, counts, metric):
    """Materialise the resampled set (copies as distinct images) and score it."""
    aps = []
    for c in range(len(case["classNames"])):
        gt = {}
        for i, k in enumerate(counts):
            objs = [(tuple(float(v) for v in o["box"]), o["difficult"]) for o in case["objects"][i] if o["class"] == c]
            for copy in range(k):
                gt[(i, copy)] = objs
        dets = []
        for d in case["models"][model][c]:
            i = int(d[0])
            for copy in range(counts[i]):
                dets.append(((i, copy), float(d[1]), tuple(float(v) for v in d[2:6])))
        ap = class_ap(gt, dets, metric)
        if ap is not None:
            aps.append(ap)
    return sum(aps) / len(aps) if aps else None


def interval(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    n = len(v)
    return [v[25 * (n - 1) // 1000], v[(975 * (n - 1) + 999) // 1000]]


def score(case):
    n = len(case["imageIDs"])
    seed = int(case["seed"])
    draws = resamples(n, case["resamples"], seed)
    gen = splitmix64(seed)
    expected = {"splitmix": [str(next(gen)) for _ in range(4)], "drawn": draws[:2]}
    for metric in ("voc07", "voc10"):
        maps = []
        for m in range(len(case["models"])):
            row = []
            for draw in draws:
                counts = [0] * n
                for i in draw:
                    counts[i] += 1
                row.append(resampled_map(case, m, counts, metric))
            maps.append(row)
        entry = {"maps": maps, "intervals": [interval(r) for r in maps]}
        if len(maps) > 1:
            entry["delta_1_minus_0"] = interval([None if a is None or b is None else a - b
                                                 for a, b in zip(maps[1], maps[0])])
        expected[metric] = entry
    return expected


def make_case():
    rng = np.random.default_rng(20261207)
    classes = ["a", "b", "c"]
    n = 14
    objects = []
    for i in range(n):
        objs = []
        if i % 5 != 4:  # images 4 and 9 have no objects
            for _ in range(int(rng.integers(1, 4))):
                c = int(rng.integers(0, 2))  # classes a and b
                x, y = int(rng.integers(1, 200)), int(rng.integers(1, 200))
                w, h = int(rng.integers(20, 80)), int(rng.integers(20, 80))
                objs.append({"class": c, "box": [x, y, x + w, y + h], "difficult": bool(rng.random() < 0.15)})
        if i == 6:  # the only non-difficult "c": many resamples leave the class out
            objs.append({"class": 2, "box": [30, 40, 90, 120], "difficult": False})
        if i == 11:
            objs.append({"class": 2, "box": [10, 10, 50, 60], "difficult": True})
        objects.append(objs)

    def detections(jitter, keep, extra_fp):
        per_class = [[] for _ in classes]
        for i, objs in enumerate(objects):
            for o in objs:
                if rng.random() < keep:
                    j = rng.integers(-jitter, jitter + 1, size=4) / 2.0
                    b = [o["box"][k] + float(j[k]) for k in range(4)]
                    per_class[o["class"]].append([i, round(float(rng.random()), 1)] + b)
                    if rng.random() < 0.2:  # a duplicate on the same object
                        per_class[o["class"]].append([i, round(float(rng.random()), 1)] + b)
            for _ in range(int(rng.integers(0, extra_fp + 1))):
                c = int(rng.integers(0, 3))
                x, y = float(rng.integers(1, 250)), float(rng.integers(1, 250))
                per_class[c].append([i, round(float(rng.random()) * 0.8, 1), x, y, x + 30.5, y + 25.0])
        for c in range(len(classes)):  # result-file order is not rank order
            order = rng.permutation(len(per_class[c]))
            per_class[c] = [per_class[c][k] for k in order]
        return per_class

    models = [detections(jitter=12, keep=0.85, extra_fp=2), detections(jitter=24, keep=0.7, extra_fp=3)]
    return {"seed": str(0xDEADBEEFCAFEF00D), "resamples": 64, "classNames": classes,
            "imageIDs": ["img%02d" % i for i in range(n)], "objects": objects, "models": models}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", help="score this case JSON instead of generating the fixture")
    ap.add_argument("--out", help="where to write the scored case (default: the fixture path, or stdout with --case)")
    args = ap.parse_args()
    if args.case:
        with open(args.case) as f:
            case = json.load(f)
    else:
        case = make_case()
    case["expected"] = score(case)
    text = json.dumps(case, indent=None, separators=(",", ":"))
    out = args.out or (None if args.case else OUT)
    if out is None:
        print(text)
        return
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(text + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
