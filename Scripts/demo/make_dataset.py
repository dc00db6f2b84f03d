#!/usr/bin/env python3
"""Generate the MPQ demo dataset: procedural scenes in genuine PASCAL VOC layout.

    python3 Scripts/demo/make_dataset.py                      # both splits, default seed
    python3 Scripts/demo/make_dataset.py --split test         # only the committed test split

Writes under VOCdevkit/MPQDemo/ (relative to the repository root):
    JPEGImages/<id>.jpg           test ids 000001.., trainval ids 100001.. (trainval images are not committed)
    Annotations/<id>.xml          VOC XML: folder, filename, source, size, segmented, object(name, pose,
                                  truncated, difficult, bndbox with 1-based inclusive pixel coordinates)
    ImageSets/Main/{trainval,test}.txt
    labels.txt                    the class names, one per line (network class i = line i, 0 = background)

Every image is drawn from its own generator seeded by (seed, split, index), so the output does not depend on
the number of worker processes and a single image can be regenerated alone. Same seed + same numpy/OpenCV
versions -> byte-identical JPEGs (recorded: numpy 2.4.6, opencv-python-headless 5.0.0).

Scene recipe (why each part is there):
- six object classes told apart by shape, never by colour: colours and fill textures are drawn from the same
  distribution for every class, so a detector has to learn shapes;
- sizes chosen against the SSD prior set (smallest default box 60 px at 300x300): most objects have a
  geometric-mean side of 16-65 % of the shorter image side, a minority are small (7-15 %) and are marked
  difficult when they end up under ~40 px at the 300x300 network input (the devkit then ignores them);
- per-axis stretch (aspect 0.65-1.55) and rotation, overlaps with occlusion (boxes cover the visible part,
  as VOC annotators draw them; heavily hidden objects are difficult), truncation at the borders (flag set);
- textured backgrounds and unlabeled clutter (lines, arcs, thin triangles, blobs, polylines) that share the
  objects' colours, so "anything coloured" is not a detector.
"""
import argparse
import math
import os
import sys
from multiprocessing import Pool

import cv2
import numpy as np

CLASSES = ["circle", "ring", "square", "star", "cross", "heart"]
SPLITS = {"test": (0, 1), "trainval": (100000, 2)}   # id offset, split tag mixed into the seed
JPEG_QUALITY = 85
DATASET_NAME = "MPQDemo"

# -------------------------------------------------------------------------------------------------------------
# Shapes: outlines in a local frame with unit "radius", turned into image-space polygons by place().


def unit_polygon(cls, rng):
    """Return a list of (polygon, fill) pairs in local coordinates; fill=False cuts a hole."""
    if cls == "circle":
        t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
        return [(np.stack([np.cos(t), np.sin(t)], 1), True)]
    if cls == "ring":
        t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
        inner = rng.uniform(0.5, 0.68)
        c = np.stack([np.cos(t), np.sin(t)], 1)
        return [(c, True), (c * inner, False)]
    if cls == "square":
        s = 0.86
        return [(np.array([[-s, -s], [s, -s], [s, s], [-s, s]]), True)]
    if cls == "star":
        inner = rng.uniform(0.42, 0.52)
        k = np.arange(10)
        r = np.where(k % 2 == 0, 1.0, inner)
        a = -np.pi / 2 + k * np.pi / 5
        return [(np.stack([r * np.cos(a), r * np.sin(a)], 1), True)]
    if cls == "cross":
        w = rng.uniform(0.3, 0.4)
        p = [[-w, -1], [w, -1], [w, -w], [1, -w], [1, w], [w, w], [w, 1], [-w, 1], [-w, w], [-1, w], [-1, -w],
             [-w, -w]]
        return [(np.array(p, float), True)]
    if cls == "heart":
        t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        x, y = x / 16.5, (y + 2.5) / 15.0
        return [(np.stack([x, y], 1), True)]
    raise ValueError(cls)


# How far each class may rotate (degrees): symmetric shapes rotate freely, the heart stays roughly upright.
MAX_ROTATION = {"circle": 90, "ring": 90, "square": 45, "star": 180, "cross": 45, "heart": 25}


def place(polys, cx, cy, rx, ry, angle_deg):
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    out = []
    for p, fill in polys:
        q = (p * np.array([rx, ry])) @ rot.T + np.array([cx, cy])
        out.append((q, fill))
    return out


def raster_mask(placed, h, w):
    """Anti-aliased coverage in [0, 1] (float32, HxW), drawn with 4 bits of sub-pixel precision."""
    m = np.zeros((h, w), np.uint8)
    for q, fill in placed:
        pts = np.round(q * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(m, [pts], 255 if fill else 0, lineType=cv2.LINE_AA, shift=4)
    return m.astype(np.float32) / 255.0


def full_area(placed):
    area = 0.0
    for q, fill in placed:
        a = cv2.contourArea(q.astype(np.float32))
        area += a if fill else -a
    return area


# -------------------------------------------------------------------------------------------------------------
# Colours, textures and backgrounds.


def random_colour(rng, sat=(0.45, 1.0), val=(0.35, 1.0)):
    hsv = np.uint8([[[rng.integers(0, 180), int(255 * rng.uniform(*sat)), int(255 * rng.uniform(*val))]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def smooth_field(rng, h, w, cells):
    """Low-frequency noise in [0, 1]: a few random values per axis, cubic-upsampled."""
    gh, gw = max(2, int(cells * h / max(h, w))), max(2, int(cells * w / max(h, w)))
    small = rng.random((gh, gw)).astype(np.float32)
    f = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(f, 0, 1)


def pattern(rng, h, w, kind, soft=False):
    """A two-tone pattern in [0, 1] (HxW float32): stripes, checks, gradient or smooth blobs.

    soft=True gives sinusoidal stripes and blurred checks: hard-edged texture over a whole image costs
    ~40-60 KB of JPEG per image, soft texture a fifth of that, and the committed split must stay small."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "stripes":
        ang = rng.uniform(0, np.pi)
        period = rng.uniform(6, 16)
        u = xx * math.cos(ang) + yy * math.sin(ang)
        wave = np.sin(2 * np.pi * u / period)
        return (0.5 + 0.5 * wave if soft else (wave > 0)).astype(np.float32)
    if kind == "checks":
        p = rng.uniform(7, 18)
        c = (((xx // p) + (yy // p)) % 2).astype(np.float32)
        return cv2.GaussianBlur(c, (0, 0), p / 4) if soft else c
    if kind == "gradient":
        ang = rng.uniform(0, 2 * np.pi)
        u = xx * math.cos(ang) + yy * math.sin(ang)
        return (u - u.min()) / max(1e-6, float(u.max() - u.min()))
    if kind == "blobs":
        return smooth_field(rng, h, w, rng.integers(6, 14))
    raise ValueError(kind)


def two_tone(rng, h, w, kinds, c1, c2, soft=False):
    kind = kinds[rng.integers(len(kinds))]
    t = pattern(rng, h, w, kind, soft)[..., None]
    return c1 * (1 - t) + c2 * t


def background(rng, h, w):
    c1 = random_colour(rng, sat=(0.0, 0.7), val=(0.2, 0.95))
    c2 = random_colour(rng, sat=(0.0, 0.7), val=(0.2, 0.95))
    kind = ["gradient", "blobs", "stripes", "checks", "blobs"][rng.integers(5)]
    # Keep backgrounds quieter than objects; periodic ones quieter still (they are what JPEG pays most for).
    mix = rng.uniform(0.25, 1.0) if kind in ("gradient", "blobs") else rng.uniform(0.12, 0.4)
    c2 = c1 * (1 - mix) + c2 * mix
    img = two_tone(rng, h, w, [kind], c1, c2, soft=True)
    if rng.random() < 0.5:                # a second, faint layer of texture
        img = img + (pattern(rng, h, w, "blobs")[..., None] - 0.5) * rng.uniform(10, 40)
    return img


# -------------------------------------------------------------------------------------------------------------
# Clutter: things that are not objects.


def draw_clutter(rng, img, n):
    h, w = img.shape[:2]
    s = min(h, w)
    for _ in range(n):
        col = tuple(float(v) for v in random_colour(rng))
        kind = rng.integers(6)
        p = lambda: (int(rng.integers(0, w)), int(rng.integers(0, h)))
        th = int(rng.integers(1, 5))
        if kind == 0:
            cv2.line(img, p(), p(), col, th, cv2.LINE_AA)
        elif kind == 1:                    # open arcs look a little like rings on purpose
            r = int(s * rng.uniform(0.05, 0.25))
            a0 = rng.uniform(0, 360)
            cv2.ellipse(img, p(), (r, int(r * rng.uniform(0.5, 1.5))), 0, a0, a0 + rng.uniform(60, 220), col,
                        th, cv2.LINE_AA)
        elif kind == 2:                    # thin triangles (not a class)
            c = np.array(p(), float)
            L = s * rng.uniform(0.05, 0.3)
            a = rng.uniform(0, 2 * np.pi)
            tri = np.array([c, c + L * np.array([math.cos(a), math.sin(a)]),
                            c + L * np.array([math.cos(a + 0.35), math.sin(a + 0.35)])])
            cv2.fillPoly(img, [np.round(tri).astype(np.int32)], col, cv2.LINE_AA)
        elif kind == 3:                    # small blobs, under the difficult size
            r = int(s * rng.uniform(0.01, 0.035)) + 1
            cv2.circle(img, p(), r, col, -1, cv2.LINE_AA)
        elif kind == 4:
            pts = np.array([p() for _ in range(int(rng.integers(3, 6)))], np.int32)
            cv2.polylines(img, [pts], False, col, th, cv2.LINE_AA)
        else:                              # thin rectangles outlines: squares are filled, these are not
            x, y = p()
            cv2.rectangle(img, (x, y), (x + int(s * rng.uniform(0.05, 0.3)), y + int(s * rng.uniform(0.02, 0.08))),
                          col, th, cv2.LINE_AA)


# -------------------------------------------------------------------------------------------------------------
# One scene.


def make_scene(seed, split_tag, index):
    rng = np.random.default_rng([seed, split_tag, index])
    w = int(rng.integers(320, 481))
    h = int(rng.integers(320, 481))
    if rng.random() < 0.2:                 # some square images too
        h = w
    short = min(w, h)
    img = background(rng, h, w)
    draw_clutter(rng, img, int(rng.integers(2, 10)))

    n_obj = int(rng.choice([1, 2, 2, 3, 3, 3, 4, 4, 5, 6]))
    objects = []                           # dicts: cls, placed, visible (bool mask), full_box, area
    for _ in range(n_obj):
        for _attempt in range(20):
            cls = CLASSES[rng.integers(len(CLASSES))]
            small = rng.random() < 0.15
            frac = math.exp(rng.uniform(math.log(0.07), math.log(0.15))) if small else \
                math.exp(rng.uniform(math.log(0.16), math.log(0.65)))
            size = frac * short
            aspect = math.exp(rng.uniform(math.log(0.65), math.log(1.55)))
            rx, ry = size / 2 * math.sqrt(aspect), size / 2 / math.sqrt(aspect)
            # Mostly inside the frame; one in four may sit on a border and be truncated.
            lo, hi = (-0.05, 1.05) if rng.random() < 0.25 else (0.5 * size / w, 1 - 0.5 * size / w)
            cx = rng.uniform(lo, max(lo, hi)) * w
            lo, hi = (-0.05, 1.05) if rng.random() < 0.25 else (0.5 * size / h, 1 - 0.5 * size / h)
            cy = rng.uniform(lo, max(lo, hi)) * h
            ang = rng.uniform(-MAX_ROTATION[cls], MAX_ROTATION[cls])
            placed = place(unit_polygon(cls, rng), cx, cy, rx, ry, ang)
            allp = np.concatenate([q for q, _ in placed])
            box = (allp[:, 0].min(), allp[:, 1].min(), allp[:, 0].max(), allp[:, 1].max())
            # Overlap is welcome, but not a shape hidden almost entirely behind another one.
            if all(box_iou(box, o["full_box"]) < 0.45 for o in objects):
                break
        else:
            continue
        mask = raster_mask(placed, h, w)
        fill_a = random_colour(rng)
        fill_b = random_colour(rng) if rng.random() < 0.6 else fill_a * rng.uniform(0.5, 0.8)
        tex = two_tone(rng, h, w, ["stripes", "checks", "gradient", "blobs"], fill_a, fill_b) \
            if rng.random() < 0.65 else np.broadcast_to(fill_a, (h, w, 3))
        # Objects must stand out from what is under them (a human could label them), so lift the contrast
        # when the fill is too close to the local background.
        sel = mask > 0.5
        if sel.any():
            d = np.abs(tex[sel].mean(0) - img[sel].mean(0)).sum()
            if d < 90:
                under = img[sel].mean()
                tex = np.clip(tex + (80 if under < 128 else -80), 0, 255)
        if rng.random() < 0.35:            # outline in a darker/lighter edge colour, as drawn things often have
            edge = raster_edge(placed, h, w, max(1, int(size * 0.03)))
            tex = tex * (1 - edge[..., None]) + (tex * 0.4) * edge[..., None]
        a = mask[..., None]
        img = img * (1 - a) + tex * a
        hard = mask > 0.5
        for o in objects:
            o["visible"] &= ~hard
        objects.append(dict(cls=cls, placed=placed, visible=hard.copy(), full_box=box, area=full_area(placed)))

    draw_clutter(rng, img, int(rng.integers(0, 4)))   # a few things in front of objects as well
    img = img * rng.uniform(0.8, 1.15) + rng.uniform(-20, 20)
    if rng.random() < 0.3:                 # sensor-like noise (kept faint: it costs JPEG bytes)
        img = img + rng.normal(0, rng.uniform(0.5, 2.0), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.1))

    annots = []
    for o in objects:
        vis = o["visible"]
        count = int(vis.sum())
        frac_visible = count / max(1.0, o["area"])
        if count < 40 or frac_visible < 0.1:
            continue                       # practically invisible: an annotator would not label it
        ys, xs = np.nonzero(vis)
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
        fb = o["full_box"]
        truncated = fb[0] < -0.5 or fb[1] < -0.5 or fb[2] > w - 0.5 or fb[3] > h - 0.5
        # Size at the 300x300 network input decides whether SSD's priors can see it (see notes).
        bw, bh = (x2 - x1 + 1) * 300.0 / w, (y2 - y1 + 1) * 300.0 / h
        difficult = math.sqrt(bw * bh) < 40 or min(bw, bh) < 22 or frac_visible < 0.3
        annots.append(dict(name=o["cls"], truncated=int(truncated), difficult=int(difficult),
                           box=(x1 + 1, y1 + 1, x2 + 1, y2 + 1)))
    return img, annots


def raster_edge(placed, h, w, thickness):
    m = np.zeros((h, w), np.uint8)
    for q, _ in placed:
        pts = np.round(q * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(m, [pts], True, 255, thickness, cv2.LINE_AA, shift=4)
    return m.astype(np.float32) / 255.0


def box_iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# -------------------------------------------------------------------------------------------------------------
# VOC files.


def annotation_xml(image_id, w, h, annots):
    lines = ["<annotation>", f"\t<folder>{DATASET_NAME}</folder>", f"\t<filename>{image_id}.jpg</filename>",
             "\t<source>", "\t\t<database>The MPQ Demo Database</database>",
             "\t\t<annotation>mpq Scripts/demo/make_dataset.py</annotation>", "\t\t<image>procedural</image>",
             "\t</source>", "\t<size>", f"\t\t<width>{w}</width>", f"\t\t<height>{h}</height>",
             "\t\t<depth>3</depth>", "\t</size>", "\t<segmented>0</segmented>"]
    for a in annots:
        x1, y1, x2, y2 = a["box"]
        lines += ["\t<object>", f"\t\t<name>{a['name']}</name>", "\t\t<pose>Unspecified</pose>",
                  f"\t\t<truncated>{a['truncated']}</truncated>", f"\t\t<difficult>{a['difficult']}</difficult>",
                  "\t\t<bndbox>", f"\t\t\t<xmin>{x1}</xmin>", f"\t\t\t<ymin>{y1}</ymin>",
                  f"\t\t\t<xmax>{x2}</xmax>", f"\t\t\t<ymax>{y2}</ymax>", "\t\t</bndbox>", "\t</object>"]
    lines.append("</annotation>")
    return "\n".join(lines) + "\n"


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def generate_one(job):
    root, seed, split, index = job
    offset, tag = SPLITS[split]
    image_id = f"{offset + index + 1:06d}"
    img, annots = make_scene(seed, tag, index)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for {image_id}")
    write_atomic(os.path.join(root, "JPEGImages", image_id + ".jpg"), buf.tobytes())
    xml = annotation_xml(image_id, img.shape[1], img.shape[0], annots)
    write_atomic(os.path.join(root, "Annotations", image_id + ".xml"), xml.encode())
    return image_id, annots


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(here, "..", "..", "VOCdevkit", DATASET_NAME),
                    help="dataset folder to write (default: VOCdevkit/MPQDemo in the repository)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--test", type=int, default=250, help="number of test images")
    ap.add_argument("--trainval", type=int, default=3000, help="number of trainval images")
    ap.add_argument("--split", choices=["all", "test", "trainval"], default="all")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--resume", action="store_true", help="skip ids whose image and annotation already exist "
                    "(they are deterministic, so this only saves time)")
    args = ap.parse_args()
    root = os.path.normpath(args.root)
    for sub in ["JPEGImages", "Annotations", os.path.join("ImageSets", "Main")]:
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    write_atomic(os.path.join(root, "labels.txt"), ("\n".join(CLASSES) + "\n").encode())
    counts = {"test": args.test, "trainval": args.trainval}
    for split in ["test", "trainval"]:
        n = counts[split]
        offset, _ = SPLITS[split]
        ids = [f"{offset + i + 1:06d}" for i in range(n)]
        # The split file is written even when only the other split's images are generated: it is small, and
        # it fixes which ids belong to the dataset.
        write_atomic(os.path.join(root, "ImageSets", "Main", split + ".txt"), ("\n".join(ids) + "\n").encode())
        if args.split not in ("all", split):
            continue
        jobs = [(root, args.seed, split, i) for i in range(n)]
        if args.resume:
            jobs = [j for j in jobs if not all(os.path.exists(os.path.join(root, sub, f"{offset + j[3] + 1:06d}{ext}"))
                                               for sub, ext in (("JPEGImages", ".jpg"), ("Annotations", ".xml")))]
        stats = {c: [0, 0, 0] for c in CLASSES}   # objects, difficult, truncated
        with Pool(args.workers) as pool:
            for k, (_, annots) in enumerate(pool.imap(generate_one, jobs, chunksize=8)):
                for a in annots:
                    s = stats[a["name"]]
                    s[0] += 1; s[1] += a["difficult"]; s[2] += a["truncated"]
                if (k + 1) % 500 == 0:
                    print(f"{split}: {k + 1}/{len(jobs)}", file=sys.stderr)
        total = sum(s[0] for s in stats.values())
        print(f"{split}: {len(jobs)} images generated, {total} objects "
              + ", ".join(f"{c} {s[0]} (difficult {s[1]}, truncated {s[2]})" for c, s in stats.items()))


if __name__ == "__main__":
    main()
