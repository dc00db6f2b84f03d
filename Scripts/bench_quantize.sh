#!/usr/bin/env bash
# Benchmark: quantize every conv of vgg16-ssd (26.3M random weights, real shapes) in a release build.
# Usage: Scripts/bench_quantize.sh [--allocation]   (--allocation also times the H-driven allocation, ~2 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
# Other test targets use @testable imports, so the release build keeps testability on.
swift build -c release --build-tests -Xswiftc -enable-testing
export MPQ_HEAVY_TESTS=1
if [ "${1:-}" = "--allocation" ]; then export MPQ_BENCH_ALLOCATION=1; fi
swift test -c release -Xswiftc -enable-testing --skip-build --filter QuantizationBenchmarkTests 2>&1 | grep -v '^Test Suite'
