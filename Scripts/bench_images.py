#!/usr/bin/env python3
"""Decode + resize throughput: `mpq image-bench` against OpenCV (cv2.imread + cv2.resize), side by side.

Builds nothing: it runs the release binary (build it first with
    swift build -c release -Xswiftc -Ounchecked -Xcc -march=native
). For each thread count, rounds alternate between mpq and OpenCV so both see the same machine load; the table
reports the median over rounds of each side's best-of-runs rate (wall clock) and of its best process CPU time
per image (all threads; far less sensitive to other load on a shared machine), with ratios in mpq's favour > 1. OpenCV runs with
cv2.setNumThreads(n) and n Python worker threads, each taking every n-th file (cv2 releases the GIL), the same
split as mpq. The checksum (sum of all resized bytes of one pass) must agree: both sides produce the same pixels
(mpq's RGB vs OpenCV's BGR does not change a byte sum).

Usage:
    python3 Scripts/bench_images.py [--images DIR] [--threads 1,2] [--rounds 3] [--runs 10] [--size 300]
Without --images it uses the decodable sample JPEGs of Tests/VOCTests/Fixtures/voc-samples (14 real VOC images).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import cv2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sample_folder(tmp):
    """Symlinks to the sample JPEGs that are complete (end with the EOI marker): the truncated ones are for tests."""
    base = os.path.join(ROOT, "Tests", "VOCTests", "Fixtures", "voc-samples")
    count = 0
    for dirpath, _, names in os.walk(base):
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            if name.lower().endswith(".jpg"):
                with open(path, "rb") as f:
                    data = f.read()
                if data.rstrip(b"\0").endswith(b"\xff\xd9"):
                    os.symlink(path, os.path.join(tmp, "%02d_%s" % (count, name)))
                    count += 1
    return tmp


def opencv_bench(files, threads, size, runs):
    cv2.setNumThreads(threads)
    sums = [0] * threads

    def work(index):
        total = 0
        for path in files[index::threads]:
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            out = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
            total += int(out.sum(dtype="uint64"))
        sums[index] = total

    def one_pass():
        if threads == 1:
            work(0)
        else:
            workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        return sum(sums)

    checksum = one_pass()  # warm-up
    rates, cpu = [], []
    for _ in range(runs):
        start, cpu_start = time.perf_counter(), time.process_time()
        one_pass()
        cpu.append((time.process_time() - cpu_start) * 1000 / len(files))
        rates.append(len(files) / (time.perf_counter() - start))
    return max(rates), min(cpu), checksum


def mpq_bench(binary, folder, threads, size, runs):
    out = subprocess.run([binary, "image-bench", "--images", folder, "--threads", str(threads), "--size", str(size),
                          "--runs", str(runs), "--json", "-"], check=True, capture_output=True, text=True)
    report = json.loads(out.stdout)
    return report["best"], report["bestCPUMillisecondsPerImage"], report["checksum"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", help="folder of JPEGs (default: the complete sample JPEGs)")
    parser.add_argument("--mpq", default=os.path.join(ROOT, ".build", "release", "mpq"))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--size", type=int, default=300)
    args = parser.parse_args()
    if not os.path.exists(args.mpq):
        sys.exit(f"{args.mpq} not found: build it with swift build -c release -Xswiftc -Ounchecked -Xcc -march=native")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.images or sample_folder(tmp)
        files = sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.lower().endswith((".jpg", ".jpeg")))
        print(f"{len(files)} images in {folder}, resize to {args.size}x{args.size}; OpenCV {cv2.__version__}; "
              f"load average {os.getloadavg()[0]:.2f}")
        rows = []
        for threads in [int(t) for t in args.threads.split(",")]:
            ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
            for _ in range(args.rounds):
                rate, cpu, mpq_sum = mpq_bench(args.mpq, folder, threads, args.size, args.runs)
                ours.append(rate)
                ours_cpu.append(cpu)
                rate, cpu, cv_sum = opencv_bench(files, threads, args.size, args.runs)
                theirs.append(rate)
                theirs_cpu.append(cpu)
                if mpq_sum != cv_sum:
                    sys.exit(f"checksum mismatch: mpq {mpq_sum}, OpenCV {cv_sum}")
            rows.append((threads, statistics.median(ours), statistics.median(theirs),
                         statistics.median(ours_cpu), statistics.median(theirs_cpu), ours, theirs))
        print(f"load average after: {os.getloadavg()[0]:.2f}; checksums of mpq and OpenCV equal")
        print("| threads | mpq images/s | OpenCV images/s | ratio | mpq CPU ms/image | OpenCV CPU ms/image | ratio |")
        print("|--------:|-------------:|----------------:|------:|-----------------:|--------------------:|------:|")
        for threads, ours, theirs, ours_cpu, theirs_cpu, _, _ in rows:
            print(f"| {threads} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} | {ours_cpu:.2f} | {theirs_cpu:.2f} "
                  f"| {theirs_cpu / ours_cpu:.2f} |")
        print("(ratios > 1 favour mpq: images/s mpq / OpenCV; CPU time OpenCV / mpq)")
        for threads, _, _, _, _, ours, theirs in rows:
            print(f"threads {threads}: mpq rounds {[round(r) for r in ours]}, OpenCV rounds {[round(r) for r in theirs]}")


if __name__ == "__main__":
    main()
