#!/usr/bin/env python3
"""Randomised VOC detection-scoring fixtures for Tests/VOCTests/EvaluationFixtureTests.swift.

Regenerate:  python3 Scripts/gen_eval_fixtures.py   (numpy only; deterministic seeds)
Writes:      Tests/VOCTests/Fixtures/evaluation/random_<n>.json

Each case holds ground truth, result-file text per class (exact lines, 1-based boxes, scores with ties) and the
expected per-class AP / counts under three matching rules, implemented here from the published descriptions:

* devkit          VOCevaldet.m: stable sort by descending score; double precision; inclusive pixels (+1);
                  argmax over intersecting GT of the image; ovmax >= 0.5; difficult -> ignored; taken -> FP.
* py-faster-rcnn  voc_eval.py: the same with ovmax > 0.5 (it also sorts with numpy's default, unstable, argsort;
                  the stable order is used here so ties are well defined).
* pytorch-ssd     qfgaohao eval_ssd.py: GT = xml - 1, det = file value in float32 - 1 (float32), IoU in float32
                  without +1 and with 1e-5 added to the union, argmax over all GT of the image, iou > 0.5.

Precision where tp + fp = 0 (only ignored detections so far) is taken as 0 (voc_eval's eps guard; MATLAB's max
skips the NaN). Classes without non-difficult GT: ap = null (excluded from mAP).
Metrics: voc07 = sum over t in np.arange(0, 1.1, 0.1) of max(prec[rec >= t]) / 11; voc10 = area under envelope.
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "VOCTests", "Fixtures", "evaluation")


def ap07(prec, rec):
    ap = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
        sel = prec[rec >= t]
        p = float(np.max(sel)) if sel.size else 0.0
        ap = ap + p / 11.0
    return ap


def ap10(prec, rec):
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    total = 0.0
    for i in range(1, mrec.size):
        if mrec[i] != mrec[i - 1]:
            total += (mrec[i] - mrec[i - 1]) * mpre[i]
    return total


def overlaps_inclusive(det, gts):
    """Devkit overlaps of one detection with each GT; None where the boxes do not intersect."""
    out = []
    for g in gts:
        gx1, gy1, gx2, gy2 = (float(v) for v in g)
        iw = min(det[2], gx2) - max(det[0], gx1) + 1.0
        ih = min(det[3], gy2) - max(det[1], gy1) + 1.0
        if iw > 0 and ih > 0:
            ua = (det[2] - det[0] + 1.0) * (det[3] - det[1] + 1.0) + (gx2 - gx1 + 1.0) * (gy2 - gy1 + 1.0) - iw * ih
            out.append(iw * ih / ua)
        else:
            out.append(None)
    return out


def overlaps_pytorch_ssd(det, gts):
    f = np.float32
    d = np.array(det, dtype=np.float32) - f(1.0)
    g = np.array(gts, dtype=np.float64).reshape(-1, 4)
    g = (g - 1.0).astype(np.float32)
    lt = np.maximum(d[:2], g[:, :2])
    rb = np.minimum(d[2:], g[:, 2:])
    hw = np.clip(rb - lt, f(0.0), None)
    overlap = hw[:, 0] * hw[:, 1]
    dhw = np.clip(d[2:] - d[:2], f(0.0), None)
    area0 = dhw[0] * dhw[1]
    ghw = np.clip(g[:, 2:] - g[:, :2], f(0.0), None)
    area1 = ghw[:, 0] * ghw[:, 1]
    iou = overlap / (area0 + area1 - overlap + f(1e-5))
    assert iou.dtype == np.float32
    return iou


def score_class(rule, gt_by_image, dets):
    """gt_by_image: {image_index: [(box, difficult)]}; dets: [(image_index, score, x1, y1, x2, y2)] in file order."""
    npos = sum(1 for objs in gt_by_image.values() for _, diff in objs if not diff)
    scores = np.array([d[1] for d in dets], dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    taken = {i: [False] * len(objs) for i, objs in gt_by_image.items()}
    tp = np.zeros(len(dets))
    fp = np.zeros(len(dets))
    ignored = 0
    for rank, k in enumerate(order):
        image, _, *box = dets[k]
        objs = gt_by_image.get(image, [])
        jmax, matched = None, False
        if objs:
            if rule == "pytorch-ssd":
                ious = overlaps_pytorch_ssd(box, [b for b, _ in objs])
                jmax = int(np.argmax(ious))
                matched = float(ious[jmax]) > 0.5
            else:
                ovs = overlaps_inclusive(box, [b for b, _ in objs])
                best = -np.inf
                for j, ov in enumerate(ovs):
                    if ov is not None and ov > best:
                        best, jmax = ov, j
                matched = best >= 0.5 if rule == "devkit" else best > 0.5
        if matched:
            if objs[jmax][1]:
                ignored += 1
            elif not taken[image][jmax]:
                taken[image][jmax] = True
                tp[rank] = 1
            else:
                fp[rank] = 1
        else:
            fp[rank] = 1
    ctp, cfp = np.cumsum(tp), np.cumsum(fp)
    result = {"npos": npos, "detections": len(dets), "tp": int(tp.sum()), "fp": int(fp.sum()), "ignored": ignored}
    if npos == 0:
        result.update({"voc07": None, "voc10": None})
        return result
    rec = ctp / float(npos)
    denom = ctp + cfp
    prec = np.where(denom > 0, ctp / np.maximum(denom, 1.0), 0.0)
    result.update({"voc07": float(ap07(prec, rec)), "voc10": float(ap10(prec, rec))})
    return result


def random_box(rng, w, h):
    x1 = int(rng.integers(1, w - 10))
    y1 = int(rng.integers(1, h - 10))
    x2 = int(rng.integers(x1 + 4, min(w, x1 + 120) + 1))
    y2 = int(rng.integers(y1 + 4, min(h, y1 + 120) + 1))
    return [x1, y1, x2, y2]


def make_case(seed, n_images, classes):
    rng = np.random.default_rng(seed)
    ids = ["%06d" % (2 * i + 1) for i in range(n_images)]
    objects = []
    for i in range(n_images):
        objs = []
        if rng.random() < 0.15:  # images without any ground truth
            objects.append(objs)
            continue
        for _ in range(int(rng.integers(1, 5))):
            c = int(rng.integers(0, len(classes)))
            if c == len(classes) - 1 and seed % 2 == 0:
                continue  # on even seeds the last class has no objects at all (npos = 0)
            objs.append({"class": c, "box": random_box(rng, 300, 240), "difficult": bool(rng.random() < 0.15)})
        objects.append(objs)
    lines = {name: [] for name in classes}
    for i, objs in enumerate(objects):
        for o in objs:
            for _ in range(int(rng.integers(0, 3))):  # 0, 1 or 2 (duplicate) detections near each object
                x1, y1, x2, y2 = o["box"]
                w, h = x2 - x1 + 1, y2 - y1 + 1
                r = rng.random()
                if r < 0.15 and h % 2 == 0:  # top half of the object: devkit overlap exactly 1/2
                    box = [x1, y1, x2, y1 + h // 2 - 1]
                elif r < 0.35:  # integer jitter: overlaps of exactly 1/2 and ties between rules
                    jitter = [int(v) for v in rng.integers(-w // 3, w // 3 + 1, size=2)] + \
                             [int(v) for v in rng.integers(-h // 3, h // 3 + 1, size=2)]
                    box = [x1 + jitter[0], y1 + jitter[2], x2 + jitter[1], y2 + jitter[3]]
                else:
                    box = [round(v + float(rng.normal(0, 0.12 * s)), 2)
                           for v, s in zip(o["box"], [w, h, w, h])]
                score = round(float(rng.random()), 2)  # two decimals: many exact ties
                lines[classes[o["class"]]].append((i, score, box))
        for _ in range(int(rng.integers(0, 3))):  # background false positives, any class
            c = int(rng.integers(0, len(classes)))
            lines[classes[c]].append((i, round(float(rng.random()), 2), random_box(rng, 300, 240)))
    # File order is not image order: shuffle each class's lines (ties then resolve by this order).
    texts, parsed = {}, {}
    for name in classes:
        entries = lines[name]
        perm = rng.permutation(len(entries))
        entries = [entries[k] for k in perm]
        text = "".join("%s %s %s\n" % (ids[i], repr(s), " ".join(str(v) for v in b)) for i, s, b in entries)
        texts[name] = text
        parsed[name] = [(i, float(s), *[float(v) for v in b]) for i, s, b in entries]
    expected = {}
    for rule in ["devkit", "py-faster-rcnn", "pytorch-ssd"]:
        per_class = {}
        for c, name in enumerate(classes):
            gt = {}
            for i, objs in enumerate(objects):
                sel = [(o["box"], o["difficult"]) for o in objs if o["class"] == c]
                if sel:
                    gt[i] = sel
            per_class[name] = score_class(rule, gt, parsed[name])
        maps = {}
        for metric in ["voc07", "voc10"]:
            aps = [r[metric] for r in per_class.values() if r[metric] is not None]
            maps[metric] = sum(aps) / len(aps) if aps else None
        expected[rule] = {"classes": per_class, "mAP": maps}
    return {"seed": seed, "classNames": classes, "imageIDs": ids, "objects": objects, "results": texts,
            "expected": expected}


def main():
    os.makedirs(OUT, exist_ok=True)
    classes = ["cat", "dog", "person", "sofa"]
    for n, seed in enumerate([11, 12, 13, 14, 15, 16]):
        case = make_case(seed, 30 + 5 * n, classes)
        case["generatedBy"] = "python3 Scripts/gen_eval_fixtures.py"
        path = os.path.join(OUT, "random_%d.json" % n)
        with open(path, "w") as f:
            json.dump(case, f, indent=None, separators=(",", ":"))
            f.write("\n")
        e = case["expected"]
        tps = {r: sum(c["tp"] for c in e[r]["classes"].values()) for r in e}
        print(os.path.basename(path), "mAP:", {r: e[r]["mAP"] for r in e}, "TP:", tps)


if __name__ == "__main__":
    main()
