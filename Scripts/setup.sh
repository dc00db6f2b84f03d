#!/usr/bin/env bash
# Sets up a fresh Debian machine for mpq and runs the main job:
#   1. apt-installs the C libraries mpq links (libjpeg-turbo, libxml2, OpenBLAS, oneDNN) and python3-venv if missing,
#   2. builds the release binary with the CPU's vector units,
#   3. creates .venv-tests (pinned onnx, onnxruntime; Scripts/python-env.sh) for the ONNX export tests,
#   4. runs `mpq demo` on the embedded dataset and detector (skip with --no-demo).
# Usage: Scripts/setup.sh [--no-demo] [-- extra mpq demo options]   (needs root or sudo for apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."
run_demo=1
if [ "${1:-}" = "--no-demo" ]; then run_demo=0; shift; fi
[ "${1:-}" = "--" ] && shift
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
pkgs="libjpeg-dev libxml2-dev libopenblas-dev libdnnl-dev pkg-config python3 python3-venv"   # python3-venv: .venv-tests
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "Installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
Scripts/python-env.sh   # pinned onnx/onnxruntime in .venv-tests, for the ONNX export tests
swift build -c release -Xswiftc -Ounchecked -Xcc -march=native --product mpq
bin="$(swift build -c release --show-bin-path)/mpq"
echo "Built: $bin"
if [ "$run_demo" = 1 ]; then
  "$bin" demo "$@"   # results in mpq-out/demo (the default)
fi
