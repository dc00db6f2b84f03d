#!/usr/bin/env bash
# Creates the Python environment the ONNX export tests use: <repo>/.venv-tests with pinned onnx, onnxruntime,
# numpy and OpenCV (headless; decodes and resizes images for Scripts/onnx_map.py). No torch. Idempotent: an
# existing venv with these versions is kept. The tests find it there, or at $MPQ_PYTHON.
#   Scripts/python-env.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=".venv-tests"
pins="onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6 opencv-python-headless==5.1.0.95"
stamp="$venv/.pins"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pins" ]; then
  echo "$venv: up to date ($pins)"
  exit 0
fi
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "python-env.sh: no $python (install python3 and python3-venv)" >&2; exit 1; }
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check $pins
echo "$pins" > "$stamp"
echo "$venv: installed $pins"
