#!/usr/bin/env python3
"""Side-by-side forward latency: mpq vs ONNX Runtime vs PyTorch eager, same network, same threads.

For each architecture the PyTorch reference network (Scripts/ssd_nets.py, default init, eval mode)
is saved as a .pth that `mpq bench` loads, and exported to ONNX. Then, in interleaved rounds (so a
busy machine hurts every runtime alike), each round times ONNX Runtime and PyTorch for --runs
forward passes of a 1x3x300x300 tensor and runs `mpq bench --model ... --runs R --json -`. Prints the
median forward latency of each runtime (median over all timed passes; for mpq the median of its
per-round medians) and the ratios mpq/ORT and mpq/PyTorch, and the CPU time per pass (all threads;
on a machine shared with other work this is the steadier measure of how much work each runtime does).

With --isa avx2 on an AVX-512 machine, mpq (DNNL_MAX_CPU_ISA=AVX2: oneDNN's AVX2 kernels and, by
default, mpq's Winograd 3x3 convs) and PyTorch (ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2) run
as on an AVX2 CPU; ONNX Runtime has no such switch and keeps its AVX-512 kernels (its column is then
not an AVX2 number, and the script says so).

Usage:
  swift build -c release -Xswiftc -Ounchecked -Xcc -march=native --product mpq
  python3 Scripts/bench_vs_onnxruntime.py --threads 1 --arch mb2-ssd-lite vgg16-ssd
  python3 Scripts/bench_vs_onnxruntime.py --threads 2 --rounds 5 --runs 5 --json bench.json
  python3 Scripts/bench_vs_onnxruntime.py --threads 2 --arch vgg16-ssd --isa avx2

Requires torch, onnx, onnxruntime (see README). Keep it short on shared machines (~1 minute).
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
sys.path.insert(0, HERE)


def default_mpq():
    out = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=os.path.dirname(HERE),
                         capture_output=True, text=True)
    return os.path.join(out.stdout.strip(), "mpq")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=["mb2-ssd-lite", "vgg16-ssd"],
                    help="architectures (mb2-ssd-lite, mb1-ssd, vgg16-ssd, ssd300-vgg16)")
    ap.add_argument("--threads", type=int, default=1, help="threads for every runtime")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    ap.add_argument("--runs", type=int, default=5, help="timed forward passes per runtime per round")
    ap.add_argument("--mpq", default=None, help="path of the mpq binary (default: the release build)")
    ap.add_argument("--json", default=None, help="also write the results as JSON to this file")
    ap.add_argument("--isa", choices=["native", "avx2"], default="native",
                    help="hold mpq and PyTorch to AVX2 kernels (ONNX Runtime cannot be held)")
    args = ap.parse_args()

    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.isa == "avx2":
        # Before torch is imported: its kernels and its bundled oneDNN read these once.
        os.environ["ATEN_CPU_CAPABILITY"] = "avx2"
        os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX2"
        os.environ["DNNL_MAX_CPU_ISA"] = "AVX2"   # inherited by mpq bench
    import numpy as np
    import onnxruntime as ort
    import torch
    import ssd_nets

    torch.set_num_threads(args.threads)
    mpq = args.mpq or default_mpq()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.arch:
            torch.manual_seed(0)
            net = ssd_nets.build(arch).eval()
            pth = os.path.join(tmp, f"{arch}.pth")
            onnx_path = os.path.join(tmp, f"{arch}.onnx")
            torch.save(net.state_dict(), pth)
            x = torch.rand(1, 3, 300, 300)
            with torch.no_grad():
                torch.onnx.export(net, x, onnx_path, input_names=["image"], output_names=["scores", "boxes"],
                                  opset_version=17, dynamo=False)
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
            feed = {"image": x.numpy()}
            sess.run(None, feed)  # warm-up
            with torch.no_grad():
                net(x)
            ort_ms, torch_ms, mpq_ms, mpq_reports = [], [], [], []
            ort_cpu, torch_cpu, mpq_cpu = [], [], []
            for _ in range(args.rounds):
                c = time.process_time()
                for _ in range(args.runs):
                    t = time.perf_counter()
                    sess.run(None, feed)
                    ort_ms.append((time.perf_counter() - t) * 1e3)
                ort_cpu.append((time.process_time() - c) * 1e3 / args.runs)
                c = time.process_time()
                with torch.no_grad():
                    for _ in range(args.runs):
                        t = time.perf_counter()
                        net(x)
                        torch_ms.append((time.perf_counter() - t) * 1e3)
                torch_cpu.append((time.process_time() - c) * 1e3 / args.runs)
                out = subprocess.run([mpq, "bench", "--model", pth, "--arch", arch, "--threads", str(args.threads),
                                      "--runs", str(args.runs), "--forward-only", "--json", "-"],
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    sys.exit(f"mpq bench failed for {arch}: {out.stderr.strip()}")
                report = json.loads(out.stdout)
                mpq_reports.append(report)
                mpq_ms.append(report["forward_ms"]["median"])
                mpq_cpu.append(report["forward_cpu_ms"])
            row = {"arch": arch, "threads": args.threads, "isa": args.isa,
                   "mpq_kernels": mpq_reports[-1].get("kernels"),
                   "mpq_ms": statistics.median(mpq_ms), "ort_ms": statistics.median(ort_ms),
                   "torch_ms": statistics.median(torch_ms), "mpq_gflops": mpq_reports[-1].get("gflops"),
                   "mpq_peak_rss_mb": mpq_reports[-1].get("peak_rss_mb")}
            row.update({"mpq_cpu_ms": statistics.median(mpq_cpu), "ort_cpu_ms": statistics.median(ort_cpu),
                        "torch_cpu_ms": statistics.median(torch_cpu)})
            row["mpq_over_ort"] = row["mpq_ms"] / row["ort_ms"]
            row["mpq_over_ort_cpu"] = row["mpq_cpu_ms"] / row["ort_cpu_ms"]
            row["mpq_over_torch"] = row["mpq_ms"] / row["torch_ms"]
            results.append(row)
            print(f"{arch:14s} threads {args.threads}: mpq {row['mpq_ms']:8.2f} ms   ORT {row['ort_ms']:8.2f} ms   "
                  f"PyTorch {row['torch_ms']:8.2f} ms   mpq/ORT {row['mpq_over_ort']:.2f}   "
                  f"mpq/PyTorch {row['mpq_over_torch']:.2f}\n"
                  f"{'':14s} CPU ms/pass: mpq {row['mpq_cpu_ms']:8.2f}   ORT {row['ort_cpu_ms']:8.2f}   "
                  f"PyTorch {row['torch_cpu_ms']:8.2f}   mpq/ORT {row['mpq_over_ort_cpu']:.2f}", flush=True)
    print(f"(onnxruntime {ort.__version__}, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f})")
    if args.isa == "avx2":
        print("(mpq and PyTorch held to AVX2; ONNX Runtime cannot be, so its times are its native AVX-512 kernels')")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
