#!/usr/bin/env python3
"""PASCAL VOC detection evaluation with the official devkit's protocol (VOCevaldet.m + VOCap.m), in Python.

Used by Scripts/demo/train.py to keep the best checkpoint; the Swift evaluator (`mpq evaluate`) is the
reference for published numbers. Protocol (see docs/evaluation.md and notes/evaluation.md):
- ground truth: integer 1-based boxes from the XML with their difficult flag; npos = non-difficult objects;
- detections: 1-based pixel boxes (a detector's 0-based continuous box + 1, as qfgaohao's eval_ssd.py writes
  its result files), sorted by descending confidence with a stable sort (ties keep image-set order);
- IoU with the +1 pixel convention; match the single best-overlapping GT; >= 0.5: difficult -> ignored,
  unmatched -> TP, already matched -> FP; otherwise FP;
- VOC07 11-point AP (thresholds k * 0.1 in double precision) or the VOC2010+ area under the envelope.
"""
import xml.etree.ElementTree as ET

import numpy as np


def read_split(root, split):
    with open(f"{root}/ImageSets/Main/{split}.txt") as f:
        return [line.strip() for line in f if line.strip()]


def read_labels(root):
    with open(f"{root}/labels.txt") as f:
        return [line.strip() for line in f if line.strip()]


def read_annotation(path):
    """-> (width, height, [(name, (xmin, ymin, xmax, ymax) ints 1-based, difficult, truncated)])."""
    tree = ET.parse(path).getroot()
    size = tree.find("size")
    w, h = int(size.find("width").text), int(size.find("height").text)
    objs = []
    for o in tree.findall("object"):
        b = o.find("bndbox")
        box = tuple(int(float(b.find(k).text)) for k in ("xmin", "ymin", "xmax", "ymax"))
        diff = o.find("difficult")
        trunc = o.find("truncated")
        objs.append((o.find("name").text.strip(), box, int(diff.text) if diff is not None else 0,
                     int(trunc.text) if trunc is not None else 0))
    return w, h, objs


def average_precision(rec, prec, voc07=True):
    if voc07:
        ap = 0.0
        for k in range(11):
            t = k * 0.1
            p = prec[rec >= t]
            ap += (p.max() if p.size else 0.0) / 11.0
        return ap
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    i = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def evaluate(gt, detections, classes, voc07=True):
    """gt: {image_id: [(name, box1based, difficult, truncated)]} in image-set order (dict order).
    detections: {class_name: [(image_id, score, x1, y1, x2, y2)]} boxes already 1-based.
    Returns {class_name: AP (NaN when the class has no non-difficult GT)}."""
    order = {iid: k for k, iid in enumerate(gt)}
    aps = {}
    for cls in classes:
        boxes, diffs, used, npos = {}, {}, {}, 0
        for iid, objs in gt.items():
            sel = [o for o in objs if o[0] == cls]
            boxes[iid] = np.array([o[1] for o in sel], float).reshape(-1, 4)
            diffs[iid] = np.array([o[2] for o in sel], bool)
            used[iid] = np.zeros(len(sel), bool)
            npos += int((~diffs[iid]).sum())
        dets = sorted(detections.get(cls, []), key=lambda d: order[d[0]])     # file order: image-set order
        dets = sorted(dets, key=lambda d: -d[1])                              # stable: ties keep file order
        tp = np.zeros(len(dets))
        fp = np.zeros(len(dets))
        for k, (iid, _, x1, y1, x2, y2) in enumerate(dets):
            g = boxes[iid]
            ovmax, jmax = -np.inf, -1
            if len(g):
                iw = np.minimum(g[:, 2], x2) - np.maximum(g[:, 0], x1) + 1
                ih = np.minimum(g[:, 3], y2) - np.maximum(g[:, 1], y1) + 1
                ok = (iw > 0) & (ih > 0)
                if ok.any():
                    ua = (x2 - x1 + 1) * (y2 - y1 + 1) + (g[:, 2] - g[:, 0] + 1) * (g[:, 3] - g[:, 1] + 1) - iw * ih
                    ov = np.where(ok, iw * ih / ua, -np.inf)
                    jmax = int(np.argmax(ov))
                    ovmax = ov[jmax]
            if ovmax >= 0.5:
                if diffs[iid][jmax]:
                    continue
                if not used[iid][jmax]:
                    tp[k] = 1
                    used[iid][jmax] = True
                else:
                    fp[k] = 1
            else:
                fp[k] = 1
        if npos == 0:
            aps[cls] = float("nan")
            continue
        tp, fp = np.cumsum(tp), np.cumsum(fp)
        rec = tp / npos
        prec = tp / np.maximum(tp + fp, np.finfo(np.float64).tiny)
        aps[cls] = average_precision(rec, prec, voc07)
    return aps
