#!/usr/bin/env bash
# Set up a fresh Debian machine for mpq: the C libraries it links, then a release build.
# Usage: Scripts/setup.sh            (needs root or sudo for apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
pkgs="libjpeg-dev libxml2-dev libopenblas-dev pkg-config"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
swift build -c release -Xswiftc -Ounchecked -Xcc -march=native --product mpq
echo "Built: $(swift build -c release --show-bin-path)/mpq"
