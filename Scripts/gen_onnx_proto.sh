#!/usr/bin/env bash
# Regenerates Sources/ONNXExport/Proto/onnx_subset.pb.swift from onnx_subset.proto (run once; the output is
# committed, the package has no build plugin). Needs protoc (Debian: protobuf-compiler) and builds
# protoc-gen-swift 1.39.0 (the version Package.swift pins) in a scratch folder outside the repository:
#   Scripts/gen_onnx_proto.sh [SWIFT_PROTOBUF_CHECKOUT]
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
scratch="${TMPDIR:-/tmp}/mpq-protoc-gen-swift"
src="${1:-}"
if [ -z "$src" ]; then
  src="$scratch/swift-protobuf"
  [ -d "$src" ] || git clone -q --depth 1 --branch 1.39.0 https://github.com/apple/swift-protobuf "$src"
fi
(cd "$src" && swift build -c release --product protoc-gen-swift)
plugin="$(cd "$src" && swift build -c release --show-bin-path)/protoc-gen-swift"
cd Sources/ONNXExport/Proto
protoc --plugin=protoc-gen-swift="$plugin" --swift_out=. onnx_subset.proto
echo "wrote $repo/Sources/ONNXExport/Proto/onnx_subset.pb.swift"
