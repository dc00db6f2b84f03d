#!/usr/bin/env python3
"""ONNX Runtime latency on mpq's exports, without torch: the demo detector (or --model) exported float, its
w8a8 RTN and w4a8 multipoint 4.25 quantized files exported in both forms (`mpq export --form qdq` and
`--form conv-integer`), and ONNX Runtime's
own int8 model of the float export (onnxruntime.quantization.quantize_static, QDQ, per-channel, calibrated on
the same demo trainval images mpq calibrates on, preprocessed as the export's metadata says). Interleaved rounds
(a busy machine hurts every variant alike), each timing --runs forward passes of one preprocessed demo test
image; prints medians in ms and each one's ratio to ORT fp32.

Usage (the Python of Scripts/python-env.sh has every package):
  .venv-tests/bin/python Scripts/bench_onnx_export.py --threads 1 2 [--rounds 5 --runs 20 --json out.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "VOCdevkit", "MPQDemo")


def default_mpq():
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True)
    return os.path.join(out.stdout.strip(), "mpq")


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd[:2])} failed: {out.stderr.strip()}")
    return out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpq", help="the mpq binary (default: swift build --show-bin-path)/mpq")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--calib-images", type=int, default=16)
    ap.add_argument("--json")
    args = ap.parse_args()

    import cv2
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    mpq = args.mpq or default_mpq()
    tmp = tempfile.mkdtemp(prefix="mpq-bench-onnx-")
    models = {"ORT fp32 (mpq export)": os.path.join(tmp, "float.onnx")}
    run([mpq, "export", "--out", models["ORT fp32 (mpq export)"]])
    for name, flags in (("w8a8 rtn", ["--method", "rtn", "--wbits", "8"]),
                        ("w4a8 multipoint 4.25", ["--method", "multipoint", "--wbits", "4", "--avg-bits", "4.25"])):
        file = os.path.join(tmp, name.replace(" ", "-") + ".safetensors")
        run([mpq, "quantize", *flags, "--abits", "8", "--calib-images", str(args.calib_images), "--out", file])
        for form in ("qdq", "conv-integer"):
            onnx_file = file.replace(".safetensors", f".{form}.onnx")
            run([mpq, "export", "--model", file, "--form", form, "--out", onnx_file])
            models[f"ORT mpq {form} {name}"] = onnx_file

    meta = {p.key: p.value for p in onnx.load(models["ORT fp32 (mpq export)"]).metadata_props}
    mean = np.array(json.loads(meta["mpq.mean"]), np.float32).reshape(3, 1, 1)
    std = np.array(json.loads(meta["mpq.std"]), np.float32).reshape(3, 1, 1)

    def tensor(image_id):
        bgr = cv2.imread(os.path.join(DEMO, "JPEGImages", image_id + ".jpg"))
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        x = cv2.resize(rgb, (300, 300), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1).astype(np.float32)
        return ((x - mean) / std)[None].astype(np.float32)

    ids = lambda split: open(os.path.join(DEMO, "ImageSets", "Main", split + ".txt")).read().split()
    calibration = [tensor(i) for i in ids("trainval")[:args.calib_images]]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calibration)

        def get_next(self):
            x = next(self.items, None)
            return None if x is None else {"image": x}

    pre = os.path.join(tmp, "float.pre.onnx")
    # Static shapes throughout: ONNX shape inference suffices (symbolic inference would need sympy).
    quant_pre_process(models["ORT fp32 (mpq export)"], pre, skip_symbolic_shape=True)
    qdq = os.path.join(tmp, "quantize_static.onnx")
    quantize_static(pre, qdq, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    models["ORT quantize_static (QDQ)"] = qdq
    sizes = {name: os.path.getsize(path) for name, path in models.items()}

    x = tensor(ids("test")[0])
    results = []
    for threads in args.threads:
        sessions = {}
        for name, path in models.items():
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            sessions[name] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            for _ in range(3):
                sessions[name].run(None, {"image": x})
        times = {name: [] for name in models}
        for _ in range(args.rounds):
            for name, session in sessions.items():
                for _ in range(args.runs):
                    start = time.perf_counter()
                    session.run(None, {"image": x})
                    times[name].append(1000 * (time.perf_counter() - start))
        base = statistics.median(times["ORT fp32 (mpq export)"])
        print(f"threads {threads} (median of {args.rounds} x {args.runs} runs, ms; ratio to ORT fp32; file bytes)")
        for name in models:
            m = statistics.median(times[name])
            print(f"  {name:40s} {m:8.2f}  {m / base:5.2f}x  {sizes[name]:>10d}")
            results.append({"threads": threads, "variant": name, "median_ms": m, "bytes": sizes[name]})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": "),
                       "onnxruntime": ort.__version__, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
