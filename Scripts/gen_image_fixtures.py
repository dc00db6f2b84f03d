#!/usr/bin/env python3
"""Golden outputs of OpenCV's JPEG decode and INTER_LINEAR resize, for the VOC image tests.

Writes Tests/VOCTests/Fixtures/images/opencv_golden.json and a few small generated JPEGs (grayscale, CMYK,
progressive, 4:2:2 / 4:4:4 chroma, EXIF orientations 1-8) into Tests/VOCTests/Fixtures/images/. Every expected image is recorded as the
SHA-256 of its bytes (HWC, RGB, uint8) plus its first and last 12 bytes for debugging.

Regenerate (needs opencv-python-headless, numpy, pillow):
    python3 Scripts/gen_image_fixtures.py
"""
import hashlib
import json
import os
import sys

import cv2
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "VOCTests", "Fixtures")
SAMPLES = os.path.join(FIXTURES, "voc-samples")
OUT_DIR = os.path.join(FIXTURES, "images")

# Real VOC JPEGs (2007_000027.jpg in VOC2012 is truncated on purpose and belongs to the bad-file tests).
REAL = [
    "VOCdevkit/VOC2007/JPEGImages/000001.jpg",
    "VOCdevkit/VOC2007/JPEGImages/000002.jpg",
    "VOCdevkit/VOC2007/JPEGImages/000003.jpg",
    "VOCdevkit/VOC2007/JPEGImages/000004.jpg",
    "VOCdevkit/VOC2007/JPEGImages/000005.jpg",
    "VOCdevkit/VOC2012/JPEGImages/2007_000032.jpg",
    "VOCdevkit/VOC2012/JPEGImages/2007_000033.jpg",
    "VOCdevkit/VOC2012/JPEGImages/2007_000039.jpg",
    "VOCdevkit/VOC2012/JPEGImages/2007_000042.jpg",
    "unannotated/000006.jpg",
    "unannotated/000008.jpg",
    "unannotated/000010.jpg",
    "unannotated/000022.jpg",
    "unannotated/000138.jpg",
]


def resize_sizes(w, h):
    """Destination (width, height) pairs: the detector size, upscale, odd small, same size, extremes, 2x down."""
    return [(300, 300), (777, 555), (37, 23), (w, h), (1, 300), (300, 1), (1, 1), (w // 2, h // 2), (512, 512)]


# Synthetic noise images (xorshift32 bytes, see `noise`) stress the rounding far more than photographs:
# (seed, src width, src height, channels, dst width, dst height).
SYNTHETIC = [
    (1, 64, 48, 3, 300, 300), (2, 500, 375, 3, 300, 300), (3, 375, 500, 3, 300, 300), (4, 100, 80, 3, 50, 40),
    (5, 97, 61, 3, 33, 17), (6, 33, 17, 3, 97, 61), (7, 90, 120, 3, 30, 40), (8, 40, 30, 3, 40, 30),
    (9, 1, 1, 3, 7, 5), (10, 1, 37, 3, 19, 11), (11, 37, 1, 3, 11, 19), (12, 200, 150, 3, 1, 150),
    (13, 200, 150, 3, 200, 1), (14, 73, 59, 1, 300, 300), (15, 73, 59, 2, 41, 29), (16, 73, 59, 4, 41, 29),
    (17, 73, 59, 1, 29, 41), (18, 150, 100, 4, 301, 199), (19, 255, 3, 3, 1000, 3), (20, 13, 211, 3, 7, 300),
    (21, 128, 96, 3, 64, 48), (22, 129, 97, 3, 300, 300), (23, 300, 300, 3, 300, 300), (24, 2, 2, 1, 3, 3),
]


def noise(seed, count):
    """xorshift32 (13, 17, 5) stream, one byte (the top 8 bits) per step; the Swift tests use the same one."""
    x = seed & 0xFFFFFFFF
    out = bytearray(count)
    for i in range(count):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x >> 24
    return np.frombuffer(bytes(out), dtype=np.uint8)


def fnv1a32(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def sum64(data):
    """Position-weighted sum of the bytes read as little-endian uint64 words (zero-padded), modulo 2^64:
    sum(word[i] * ((i * 0x9E3779B97F4A7C15) | 1)). Every weight is odd, so any change of a single word changes the
    sum; it costs one multiply per 8 bytes, which keeps the Swift tests fast in debug builds (SHA-256 is checked
    too, opt-in)."""
    padded = data + bytes((-len(data)) % 8)
    words = np.frombuffer(padded, dtype="<u8")
    index = np.arange(len(words), dtype=np.uint64)
    weights = (index * np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)
    return "%016x" % int(np.sum(words * weights, dtype=np.uint64))


def record(arr, rows=False, **fields):
    """SHA-256 and sum64 of the bytes, first/last 12 bytes; with `rows`, FNV-1a 32 of every row (8 hex digits each),
    so a failing test can name the first row that differs."""
    arr = np.ascontiguousarray(arr)
    data = arr.tobytes()
    with np.errstate(over="ignore"):
        fields.update(sum64=sum64(data))
    fields.update(sha256=hashlib.sha256(data).hexdigest(), head=list(data[:12]), tail=list(data[-12:]))
    if rows:
        fields["rowFNV1a"] = "".join("%08x" % fnv1a32(arr[y].tobytes()) for y in range(arr.shape[0]))
    return fields


def imread_rgb(path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        sys.exit(f"cv2.imread failed on {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def make_generated():
    """Small JPEG variants of a real VOC image (000001 scaled to 121x91, odd on purpose)."""
    os.makedirs(OUT_DIR, exist_ok=True)
    bgr = cv2.imread(os.path.join(SAMPLES, REAL[0]), cv2.IMREAD_COLOR)
    small = cv2.resize(bgr, (121, 91), interpolation=cv2.INTER_AREA)
    files = {}
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    files["gray.jpg"] = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    files["progressive.jpg"] = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    files["chroma422.jpg"] = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                                          cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422])[1].tobytes()
    files["chroma444.jpg"] = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                                          cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])[1].tobytes()
    for name, data in files.items():
        with open(os.path.join(OUT_DIR, name), "wb") as f:
            f.write(data)
    # CMYK as Pillow writes it (Adobe APP14 marker, inverted values, as Photoshop does).
    rgb = Image.fromarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    rgb.convert("CMYK").save(os.path.join(OUT_DIR, "cmyk.jpg"), quality=90)
    # EXIF orientations 1-8 (37x23, odd on purpose): cv2.imread turns each upright.
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        rgb.resize((37, 23)).save(os.path.join(OUT_DIR, f"orientation{orientation}.jpg"), quality=90,
                                  exif=exif.tobytes())
    # A PNG and a text file wearing a .jpg name, for the bad-file tests.
    with open(os.path.join(OUT_DIR, "png_named.jpg"), "wb") as f:
        f.write(cv2.imencode(".png", cv2.resize(small, (16, 12), interpolation=cv2.INTER_AREA))[1].tobytes())
    with open(os.path.join(OUT_DIR, "text_named.jpg"), "w") as f:
        f.write("This is a text file, not a JPEG image.\n")
    return (["gray.jpg", "cmyk.jpg", "progressive.jpg", "chroma422.jpg", "chroma444.jpg"]
            + [f"orientation{o}.jpg" for o in range(1, 9)])


def main():
    generated = make_generated()
    decode, resize, synthetic = [], [], []
    for rel in REAL:
        rgb = imread_rgb(os.path.join(SAMPLES, rel))
        h, w = rgb.shape[:2]
        decode.append(record(rgb, rows=True, file="voc-samples/" + rel, width=w, height=h))
        for (W, H) in resize_sizes(w, h):
            out = cv2.resize(rgb, (W, H), interpolation=cv2.INTER_LINEAR)
            resize.append(record(out, file="voc-samples/" + rel, width=W, height=H))
    for name in generated:
        rgb = imread_rgb(os.path.join(OUT_DIR, name))
        h, w = rgb.shape[:2]
        decode.append(record(rgb, rows=True, file="images/" + name, width=w, height=h))
        out = cv2.resize(rgb, (300, 300), interpolation=cv2.INTER_LINEAR)
        resize.append(record(out, file="images/" + name, width=300, height=300))
    for (seed, sw, sh, cn, dw, dh) in SYNTHETIC:
        src = noise(seed, sw * sh * cn).reshape((sh, sw, cn))
        out = cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR)
        synthetic.append(record(out, rows=True, seed=seed, srcWidth=sw, srcHeight=sh, channels=cn, width=dw, height=dh))
    golden = {
        "generatedBy": "python3 Scripts/gen_image_fixtures.py",
        "opencv": cv2.__version__,
        "opencvJPEG": [l.split("JPEG:")[1].strip() for l in cv2.getBuildInformation().splitlines() if "JPEG:" in l][0],
        "numpy": np.__version__,
        "decode": decode,
        "resize": resize,
        "synthetic": synthetic,
    }
    with open(os.path.join(OUT_DIR, "opencv_golden.json"), "w") as f:
        # One record per line: small diffs when regenerated.
        f.write("{\n")
        items = list(golden.items())
        for i, (key, value) in enumerate(items):
            end = ",\n" if i + 1 < len(items) else "\n"
            if isinstance(value, list):
                body = ",\n".join("  " + json.dumps(v, separators=(",", ":")) for v in value)
                f.write(f" {json.dumps(key)}: [\n{body}\n ]{end}")
            else:
                f.write(f" {json.dumps(key)}: {json.dumps(value)}{end}")
        f.write("}\n")
    print(f"{len(decode)} decodes, {len(resize)} resizes, {len(synthetic)} synthetic resizes -> {OUT_DIR}")


if __name__ == "__main__":
    main()
