#!/usr/bin/env python3
"""Integer-engine latency side by side: mpq fp32 and int8 (w8a8 rtn, w4a8 rtn, w4a8 multipoint 4.25 with the budget
counted in weights, in MACs and in int8-engine MACs (rows in blocks of 16)) against
ONNX Runtime fp32 and ONNX Runtime int8 (quantize_static, QDQ, per-channel), same network, same threads, one run.

For each architecture the PyTorch reference network (Scripts/ssd_nets.py, seeded default init, eval mode, full
width) is saved as a .pth; `mpq quantize` writes the three quantized files (calibration on --calib-images images
of --voc-root; speed does not depend on which), and the network is exported to ONNX and quantized by
onnxruntime.quantization.quantize_static on the same number of preprocessed-size random inputs. Then, in
interleaved rounds (a busy machine hurts every runtime alike), each round times every variant for --runs forward
passes of a 1x3x300x300 tensor (mpq through `mpq bench --forward-only --json -`) and the medians are printed with
the ratios the README reports. Also prints the oneDNN kernels mpq's int8 engine picked. "w4a8 rtn, oneDNN int8 kernels" times the w4a8 file with
MPQ_INT8_S16=off: where mpq's own 16-bit partial-sum kernels are the default (AVX2 without VNNI), this is the
same model on oneDNN's int8 kernels alone (docs/int8-engine.md).

With --include-export, ONNX Runtime also runs mpq's own exports (`mpq export --no-postprocess`, the raw head
outputs like the PyTorch export) of the w8a8 rtn and w4a8 multipoint 4.25 files in both forms (`--form qdq` and
`--form conv-integer`): "ORT mpq-export <form> <variant>", timed
in the same rounds next to ORT's quantize_static model (docs/export.md).

Usage:
  swift build -c release -Xswiftc -Ounchecked -Xcc -march=native --product mpq
  python3 Scripts/bench_int8.py --threads 1 2
  python3 Scripts/bench_int8.py --arch mb2-ssd-lite --threads 2 --rounds 3 --runs 10 --json int8.json
  python3 Scripts/bench_int8.py --include-export --threads 1 2

Requires torch (2.13.0+cpu), onnx, onnxruntime, numpy (a venv; see docs/performance.md).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

VARIANTS = [("w8a8 rtn", ["--method", "rtn", "--wbits", "8"]),
            ("w4a8 rtn", ["--method", "rtn", "--wbits", "4"]),
            ("w4a8 multipoint 4.25", ["--method", "multipoint", "--wbits", "4", "--avg-bits", "4.25"]),
            ("w4a8 multipoint 4.25 macs", ["--method", "multipoint", "--wbits", "4", "--avg-bits", "4.25",
                                           "--cost", "macs"]),
            ("w4a8 multipoint 4.25 int8-macs", ["--method", "multipoint", "--wbits", "4", "--avg-bits", "4.25",
                                                "--cost", "int8-macs"]),
            ("w4a8 multipoint 4.25 int8-time", ["--method", "multipoint", "--wbits", "4", "--avg-bits", "4.25",
                                                "--cost", "int8-time"])]

ONEDNN_W4 = "w4a8 rtn, oneDNN int8 kernels"


def default_mpq():
    out = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, capture_output=True,
                         text=True)
    return os.path.join(out.stdout.strip(), "mpq")


def mpq_bench(mpq, model, arch, threads, runs, engine=None, env=None):
    cmd = [mpq, "bench", "--model", model, "--arch", arch, "--threads", str(threads), "--runs", str(runs),
           "--forward-only", "--json", "-"] + (["--engine", engine] if engine else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if out.returncode != 0:
        sys.exit(f"mpq bench failed for {model}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=["mb2-ssd-lite", "vgg16-ssd"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    ap.add_argument("--runs", type=int, default=5, help="timed forward passes per variant per round")
    ap.add_argument("--voc-root", default=os.path.join(ROOT, "VOCdevkit/MPQDemo"), help="calibration images")
    ap.add_argument("--calib-images", type=int, default=8)
    ap.add_argument("--mpq", default=None, help="the mpq binary (default: the release build)")
    ap.add_argument("--json", default=None, help="also write the results as JSON to this file")
    ap.add_argument("--include-export", action="store_true",
                    help="also time ONNX Runtime on mpq's exports of the w8a8 rtn and multipoint 4.25 files")
    args = ap.parse_args()

    import numpy as np
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    import ssd_nets

    mpq = args.mpq or default_mpq()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        # The seeded networks have VOC's 20 classes: calibrate on --voc-root's images under a 20-class list
        # (calibration reads images only).
        calib_root = os.path.join(tmp, "calib")
        os.makedirs(calib_root)
        for sub in ["JPEGImages", "Annotations", "ImageSets"]:
            os.symlink(os.path.abspath(os.path.join(args.voc_root, sub)), os.path.join(calib_root, sub))
        with open(os.path.join(calib_root, "labels.txt"), "w") as f:
            f.write("\n".join(f"class{i}" for i in range(1, 21)) + "\n")
        for arch in args.arch:
            torch.manual_seed(0)
            net = ssd_nets.build(arch).eval()
            pth = os.path.join(tmp, f"{arch}.pth")
            torch.save(net.state_dict(), pth)
            files = {}
            for name, flags in VARIANTS:
                out = os.path.join(tmp, f"{arch}-{name.replace(' ', '-')}.safetensors")
                run = subprocess.run([mpq, "quantize", "--model", pth, "--voc-root", calib_root,
                                      "--calib-images", str(args.calib_images), "--abits", "8", "--out", out] + flags,
                                     capture_output=True, text=True)
                if run.returncode != 0:
                    sys.exit(f"mpq quantize failed ({arch} {name}): {run.stderr.strip()}")
                files[name] = out
            exports = {}
            if args.include_export:
                for name in ("w8a8 rtn", "w4a8 multipoint 4.25"):
                    for form in ("qdq", "conv-integer"):
                        exported = files[name].replace(".safetensors", f".{form}.onnx")
                        run = subprocess.run([mpq, "export", "--model", files[name], "--out", exported,
                                              "--form", form, "--no-postprocess"], capture_output=True, text=True)
                        if run.returncode != 0:
                            sys.exit(f"mpq export failed ({arch} {name}): {run.stderr.strip()}")
                        exports[f"ORT mpq-export {form} {name}"] = exported
            onnx_path = os.path.join(tmp, f"{arch}.onnx")
            x = torch.rand(1, 3, 300, 300)
            with torch.no_grad():
                torch.onnx.export(net, x, onnx_path, input_names=["image"], output_names=["scores", "boxes"],
                                  opset_version=17, dynamo=False)
            pre = os.path.join(tmp, f"{arch}-pre.onnx")
            quant_pre_process(onnx_path, pre)
            rng = np.random.default_rng(0)

            class Reader(CalibrationDataReader):
                def __init__(self):
                    self.left = [{"image": rng.random((1, 3, 300, 300), dtype=np.float32) * 2 - 1}
                                 for _ in range(args.calib_images)]

                def get_next(self):
                    return self.left.pop() if self.left else None

            qdq = os.path.join(tmp, f"{arch}-int8.onnx")
            quantize_static(pre, qdq, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            for threads in args.threads:
                sessions = {}
                for tag, path in [("ORT fp32", onnx_path), ("ORT int8 QDQ", qdq), *exports.items()]:
                    so = ort.SessionOptions()
                    so.intra_op_num_threads = threads
                    so.inter_op_num_threads = 1
                    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                    sessions[tag] = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
                feed = {"image": x.numpy()}
                for s in sessions.values():
                    s.run(None, feed)
                times = {k: [] for k in ["mpq fp32", *files, ONEDNN_W4, *sessions]}
                kernels = {}
                for _ in range(args.rounds):
                    for tag, s in sessions.items():
                        for _ in range(args.runs):
                            t = time.perf_counter()
                            s.run(None, feed)
                            times[tag].append((time.perf_counter() - t) * 1e3)
                    times["mpq fp32"].append(mpq_bench(mpq, pth, arch, threads, args.runs)["forward_ms"]["median"])
                    for name, path in files.items():
                        report = mpq_bench(mpq, path, arch, threads, args.runs, engine="int8")
                        times[name].append(report["forward_ms"]["median"])
                        kernels[name] = report.get("kernels")
                    # The same w4a8 file with oneDNN's int8 kernels only (no 16-bit partial-sum kernels; on a CPU
                    # with VNNI that is the default anyway).
                    report = mpq_bench(mpq, files["w4a8 rtn"], arch, threads, args.runs, engine="int8",
                                       env={"MPQ_INT8_S16": "off"})
                    times[ONEDNN_W4].append(report["forward_ms"]["median"])
                    kernels[ONEDNN_W4] = report.get("kernels")
                row = {"arch": arch, "threads": threads, "ms": {k: statistics.median(v) for k, v in times.items()},
                       "kernels": kernels}
                ms = row["ms"]
                row["ratios"] = {
                    "mpq int8 w8a8 speedup over mpq fp32": ms["mpq fp32"] / ms["w8a8 rtn"],
                    "mpq int8 w4a8 speedup over mpq fp32": ms["mpq fp32"] / ms["w4a8 rtn"],
                    "w4a8 with oneDNN's int8 kernels over the default": ms[ONEDNN_W4] / ms["w4a8 rtn"],
                    "multipoint 4.25 cost over w4a8 rtn": ms["w4a8 multipoint 4.25"] / ms["w4a8 rtn"],
                    "multipoint 4.25 (MAC budget) cost over w4a8 rtn": ms["w4a8 multipoint 4.25 macs"] / ms["w4a8 rtn"],
                    "multipoint 4.25 (int8-MAC budget) cost over w4a8 rtn":
                        ms["w4a8 multipoint 4.25 int8-macs"] / ms["w4a8 rtn"],
                    "multipoint 4.25 (int8-time budget) cost over w4a8 rtn":
                        ms["w4a8 multipoint 4.25 int8-time"] / ms["w4a8 rtn"],
                    "mpq w4a8 over ORT int8": ms["w4a8 rtn"] / ms["ORT int8 QDQ"],
                    "mpq w8a8 over ORT int8": ms["w8a8 rtn"] / ms["ORT int8 QDQ"],
                    "ORT int8 speedup over ORT fp32": ms["ORT fp32"] / ms["ORT int8 QDQ"],
                }
                for tag in exports:
                    row["ratios"][f"{tag} over ORT int8"] = ms[tag] / ms["ORT int8 QDQ"]
                results.append(row)
                print(f"{arch} threads {threads}: " + "  ".join(f"{k} {v:.2f} ms" for k, v in ms.items()))
                print("   " + "  ".join(f"{k}: {v:.2f}" for k, v in row["ratios"].items()), flush=True)
                print("   int8 kernels: " + json.dumps(kernels["w4a8 rtn"]), flush=True)
    print(f"(onnxruntime {ort.__version__}, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
