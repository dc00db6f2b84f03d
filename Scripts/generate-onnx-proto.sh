#!/usr/bin/env bash
# Regenerates Sources/ONNXExport/Proto/onnx_subset.pb.swift from onnx_subset.proto. Run it after editing the
# .proto and commit both. Needs protoc (Debian: protobuf-compiler); builds swift-protobuf's protoc-gen-swift from
# the version Package.swift resolves (so generated code and runtime library always match). The package itself
# never runs protoc or a build plugin.
# Usage: Scripts/generate-onnx-proto.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "generate-onnx-proto: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
swift package resolve
swift build -c release --product protoc-gen-swift
plugin="$(swift build -c release --show-bin-path)/protoc-gen-swift"
cd Sources/ONNXExport/Proto
protoc --plugin=protoc-gen-swift="$plugin" --swift_out=. onnx_subset.proto
echo "wrote Sources/ONNXExport/Proto/onnx_subset.pb.swift"
