"""Generates the SSD parity fixtures in Tests/SSDTests/Fixtures/parity/ (torch 2.13.0+cpu, numpy, cv2).

Regenerate:  python3 Scripts/gen_ssd_fixtures.py [--heavy-dir /tmp/mpq-ssd-heavy]

Full-size networks use "recipe" weights that Swift reproduces bit for bit (`WeightRecipe.swift`):
  seed(key)   = FNV-1a 64 of the key's UTF-8 bytes
  z_i         = splitmix64 output i of state `seed`: mix(seed + (i + 1) * 0x9E3779B97F4A7C15)
  u_i         = float32(z_i >> 40) / 2^23 - 1             (exact, in [-1, 1))
  value_i     = float32(offset) + float32(scale) * u_i   (or |u_i| for kind "absu"), float32 arithmetic
per tensor key with (kind, scale, offset) listed in recipes/<case>.json. Conv scales are calibrated once
(LSUV-like, on VOC2007 000001) so activations stay O(1) through the deep nets and softmax scores are not
saturated; BN: gamma 1 + 0.2u, beta 0.1u, mean 0.1u, var 1 + 0.5|u|; num_batches_tracked 0.

Outputs (all little-endian):
  images/<id>.rgb     the 300x300 RGB uint8 input (cv2.imread -> RGB -> cv2.resize INTER_LINEAR), HWC
  golden/<case>_<id>_{scores,boxes}.f32   softmax scores [P, C], boxes [P, 4] normalised corners (first image)
  golden/<case>_<id>_detections.f32       final detections [n, 6]: class (1..C-1, as float), score, x1, y1,
                                          x2, y2 in pixels of the original image; per class ascending, NMS order
  torch/<case>.pth    small networks saved by torch.save (legacy and zip formats)
  manifest.json       cases, images (original sizes), detection counts, diagnostics
With --heavy-dir, full-size recipe networks are also saved there in both formats (never committed).
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ssd_nets  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOC = os.path.join(ROOT, "Tests/VOCTests/Fixtures/voc-samples/VOCdevkit/VOC2007/JPEGImages")
OUT = os.path.join(ROOT, "Tests/SSDTests/Fixtures/parity")
IMAGES = ["000001", "000004"]

M64 = (1 << 64) - 1
GAMMA = np.uint64(0x9E3779B97F4A7C15)


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def uniform(key, count):
    """u_i in [-1, 1), float32, i = 0..count-1 (see module doc)."""
    with np.errstate(over="ignore"):
        i = np.arange(1, count + 1, dtype=np.uint64)
        z = np.uint64(fnv1a64(key)) + i * GAMMA
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float32) / np.float32(2 ** 23) - np.float32(1.0)


def values(key, shape, kind, scale, offset):
    n = int(np.prod(shape)) if len(shape) else 1
    if kind == "zero":
        return np.zeros(shape, dtype=np.int64)
    u = uniform(key, n)
    if kind == "absu":
        u = np.abs(u)
    return (np.float32(offset) + np.float32(scale) * u).reshape(shape)


def f32(x):
    """x rounded to float32, as a Python float (its repr round-trips exactly)."""
    return float(np.float32(x))


# ----------------------------------------------------------------------------------------------
# Recipes

def initial_recipe(net):
    """Per key (kind, scale, offset) by the role of the owning module."""
    recipe = {}
    for name, m in net.named_modules():
        p = name + "." if name else ""
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
            recipe[p + "weight"] = ["u", f32((3.0 / fan_in) ** 0.5), 0.0]
            if m.bias is not None:
                recipe[p + "bias"] = ["u", 0.1, 0.0]
        elif isinstance(m, nn.BatchNorm2d):
            recipe[p + "weight"] = ["u", 0.2, 1.0]
            recipe[p + "bias"] = ["u", 0.1, 0.0]
            recipe[p + "running_mean"] = ["u", 0.1, 0.0]
            recipe[p + "running_var"] = ["absu", 0.5, 1.0]
            recipe[p + "num_batches_tracked"] = ["zero", 0.0, 0.0]
        elif isinstance(m, ssd_nets.L2Norm):
            recipe[p + "weight"] = ["u", 2.0, 20.0]
        elif isinstance(m, ssd_nets.ScaledL2Norm):
            recipe[p + "scale"] = ["u", 2.0, 20.0]
    return recipe


def load_recipe(net, recipe):
    sd = net.state_dict()
    assert set(sd) == set(recipe), set(sd) ^ set(recipe)
    new = {k: torch.from_numpy(np.ascontiguousarray(values(k, list(v.shape), *recipe[k]))) for k, v in sd.items()}
    net.load_state_dict(new, strict=True)


def calibrate(net, recipe, x, head_targets):
    """One LSUV-like pass: every conv's weight and bias scales are multiplied so that its output std on `x` is
    1 (class heads: head_targets[0], box heads: head_targets[1]). Forward hooks rescale in execution order."""
    load_recipe(net, recipe)
    convs = {m: n for n, m in net.named_modules() if isinstance(m, nn.Conv2d)}

    def hook(module, inp, out):
        name = convs[module]
        target = 1.0
        if name.startswith(("classification_headers", "conf.")):
            target = head_targets[0] if _is_head_output(net, name) else 1.0
        elif name.startswith(("regression_headers", "loc.")):
            target = head_targets[1] if _is_head_output(net, name) else 1.0
        std = float(out.std())
        factor = target / max(std, 1e-6)
        for suffix in ("weight", "bias"):
            key = f"{name}.{suffix}"
            if key in recipe:
                recipe[key][1] = f32(recipe[key][1] * factor)
        with torch.no_grad():
            module.weight.mul_(factor)
            if module.bias is not None:
                module.bias.mul_(factor)
        return out * factor

    handles = [m.register_forward_hook(hook) for m in convs]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    load_recipe(net, recipe)


def _is_head_output(net, name):
    # The last conv of a head: the 1x1 of an SSD-Lite separable head ("...3"), or a plain conv head.
    parts = name.split(".")
    if len(parts) == 2:
        return True
    return parts[2] == "3"


# ----------------------------------------------------------------------------------------------

CASES = [
    # name, arch, num_classes, width, slim, committed torch files (format list), head targets (cls, loc)
    dict(name="mb2-ssd-lite", arch="mb2-ssd-lite", classes=21, width=1.0, slim=1),
    dict(name="mb2-ssd-lite-w0.5", arch="mb2-ssd-lite", classes=21, width=0.5, slim=1),
    dict(name="mb1-ssd", arch="mb1-ssd", classes=21, width=1.0, slim=1),
    dict(name="vgg16-ssd", arch="vgg16-ssd", classes=21, width=1.0, slim=1),
    dict(name="ssd300-vgg16", arch="ssd300-vgg16", classes=21, width=1.0, slim=1),
    # Small torch-saved files: real key layout, narrow channels (`slim`) and few classes.
    dict(name="small-mb2-w0.25-c3", arch="mb2-ssd-lite", classes=3, width=0.25, slim=8, save="legacy"),
    dict(name="small-mb1-c5", arch="mb1-ssd", classes=5, width=1.0, slim=16, save="zip"),
    dict(name="small-vgg16-ssd-c6-fp16", arch="vgg16-ssd", classes=6, width=1.0, slim=16, save="legacy",
         half=True),
    dict(name="small-ssd300-c4", arch="ssd300-vgg16", classes=4, width=1.0, slim=16, save="zip"),
    dict(name="small-vgg16-ssd-l2norm-c3", arch="vgg16-ssd", classes=3, width=1.0, slim=16, save="legacy",
         scaled_l2norm=True),
]
HEAD_TARGETS = (2.0, 0.7)


def write_f32(path, t):
    np.ascontiguousarray(t.detach().numpy().astype("<f4")).tofile(path)


def diagnostics(scores):
    p = scores.double()
    entropy = float(-(p * p.clamp_min(1e-30).log()).sum(1).mean())
    return {"mean_max_score": round(float(p.max(1).values.mean()), 4),
            "mean_entropy_nats": round(entropy, 4), "uniform_entropy_nats": round(float(np.log(p.shape[1])), 4),
            "fraction_above_0.01": round(float((p[:, 1:] > 0.01).double().mean()), 4)}


def save_torch(net, path, fmt, half):
    sd = net.state_dict()
    if half:
        sd = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    torch.save(sd, path, _use_new_zipfile_serialization=(fmt == "zip"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heavy-dir", help="also save full-size recipe networks here (legacy and zip)")
    ap.add_argument("--only", help="regenerate only this case name")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)

    for sub in ("images", "golden", "torch", "recipes"):
        os.makedirs(os.path.join(OUT, sub), exist_ok=True)
    raw = {i: ssd_nets.read_rgb(os.path.join(VOC, i + ".jpg")) for i in IMAGES}
    resized = {}
    for i, img in raw.items():
        r = ssd_nets.cv2.resize(img, (300, 300), interpolation=ssd_nets.cv2.INTER_LINEAR)
        r.tofile(os.path.join(OUT, "images", i + ".rgb"))
        resized[i] = r

    manifest_path = os.path.join(OUT, "manifest.json")
    old = json.load(open(manifest_path)) if os.path.exists(manifest_path) else {"cases": []}
    manifest = {
        "generated_by": "python3 Scripts/gen_ssd_fixtures.py (torch %s)" % torch.__version__,
        "images": [{"id": i, "width": int(raw[i].shape[1]), "height": int(raw[i].shape[0]),
                    "file": f"images/{i}.rgb"} for i in IMAGES],
        "cases": [c for c in old["cases"] if args.only and c["name"] != args.only],
    }
    for case in CASES:
        if args.only and case["name"] != args.only:
            continue
        name, arch = case["name"], case["arch"]
        print("==", name, flush=True)
        net = ssd_nets.build(arch, case["classes"], case["width"], case["slim"], case.get("scaled_l2norm", False)).eval()
        recipe = initial_recipe(net)
        calibrate(net, recipe, ssd_nets.normalize(resized[IMAGES[0]], arch), HEAD_TARGETS)
        if case.get("half"):
            # The saved file holds float16; the reference runs float32 copies of those values.
            with torch.no_grad():
                for v in net.state_dict().values():
                    if v.is_floating_point():
                        v.copy_(v.half().float())
        det = ssd_nets.Detector(net, arch)
        entry = {"name": name, "arch": arch, "num_classes": case["classes"], "width_mult": case["width"],
                 "priors": int(det.priors.shape[0]), "detections": {}, "nms_min_margin": {}}
        if "save" in case:
            fname = f"torch/{name}.pth"
            save_torch(net, os.path.join(OUT, fname), case["save"], case.get("half", False))
            entry.update(file=fname, format=case["save"], dtype="float16" if case.get("half") else "float32")
        else:
            rfile = f"recipes/{name}.json"
            sd = net.state_dict()
            tensors = [{"key": k, "shape": list(sd[k].shape), "kind": recipe[k][0], "scale": recipe[k][1],
                        "offset": recipe[k][2]} for k in sd]
            # A few generated values per kind, to check the Swift generator directly.
            probe = [k for k in sd if recipe[k][0] != "zero"][:3] + [k for k in sd if recipe[k][0] == "absu"][:1]
            checks = {k: [float(v) for v in sd[k].flatten()[:5]] for k in probe}
            with open(os.path.join(OUT, rfile), "w") as f:
                json.dump({"arch": arch, "num_classes": case["classes"], "width_mult": case["width"],
                           "tensors": tensors, "checks": checks}, f, indent=0)
            entry["recipe"] = rfile
            if args.heavy_dir:
                os.makedirs(args.heavy_dir, exist_ok=True)
                for fmt in ("legacy", "zip"):
                    save_torch(net, os.path.join(args.heavy_dir, f"{name}-{fmt}.pth"), fmt, False)
        for n, i in enumerate(IMAGES):
            h, w = raw[i].shape[:2]
            scores, boxes = det.raw(ssd_nets.normalize(resized[i], arch))
            margins = []
            dets = ssd_nets.postprocess(scores, boxes, w, h, det.amdegroot, margins=margins)
            dfile = f"golden/{name}_{i}_detections.f32"
            np.array(dets, dtype="<f4").reshape(-1, 6).tofile(os.path.join(OUT, dfile))
            entry["detections"][i] = {"file": dfile, "count": len(dets)}
            entry["nms_min_margin"][i] = min(margins) if margins else None
            if n == 0:
                entry["golden_image"] = i
                entry["scores"] = f"golden/{name}_{i}_scores.f32"
                entry["boxes"] = f"golden/{name}_{i}_boxes.f32"
                write_f32(os.path.join(OUT, entry["scores"]), scores)
                write_f32(os.path.join(OUT, entry["boxes"]), boxes)
                entry["score_stats"] = diagnostics(scores)
            print(f"   {i}: {len(dets)} detections, NMS margin {entry['nms_min_margin'][i]:.2e}", flush=True)
        print("  ", entry["score_stats"], flush=True)
        manifest["cases"].append(entry)
    manifest["cases"].sort(key=lambda c: [x["name"] for x in CASES].index(c["name"]))
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"fixtures: {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
