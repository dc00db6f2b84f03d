// swift-tools-version: 6.0
import PackageDescription

// Data flows Imaging + VOC -> Evaluation -> SSD (Tensors, Checkpoints) -> Quantization -> Workflows (the jobs:
// calibrate, quantize, score, journal, write reports) -> `mpq`, which only parses, calls and prints.
// docs/architecture.md draws the graph.
let package = Package(
    name: "mpq",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "mpq", targets: ["mpq"]),
        .library(name: "Imaging", targets: ["Imaging"]),
        .library(name: "VOC", targets: ["VOC"]),
        .library(name: "Evaluation", targets: ["Evaluation"]),
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "Checkpoints", targets: ["Checkpoints"]),
        .library(name: "SSD", targets: ["SSD"]),
        .library(name: "Quantization", targets: ["Quantization"]),
        .library(name: "ONNXExport", targets: ["ONNXExport"]),
        .library(name: "SafeIO", targets: ["SafeIO"]),
        .library(name: "Workflows", targets: ["Workflows"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        // The ONNX messages' runtime (the Swift is generated once by Scripts/generate-onnx-proto.sh, no plugin).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // System-library shims (Debian: libxml2-dev, libjpeg-dev, libopenblas-dev, libdnnl-dev).
        .systemLibrary(name: "CLibXML2", path: "Sources/CLibXML2", pkgConfig: "libxml-2.0",
                       providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // libjpeg's error exit is a longjmp: it lives in C, and returns an error code to Swift.
        .target(name: "CJPEG", path: "Sources/CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        // oneDNN (Debian: libdnnl-dev, OpenMP build) behind a small C interface; libgomp for thread control.
        .target(name: "CDNNL", path: "Sources/CDNNL",
                // The quantize loops must vectorise in every build (debug included: tests time nothing, but the
                // demo and benchmarks run release, and -O2 keeps IEEE semantics).
                cSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),

        // Input limits and the atomic file writer: no dependencies, so every reader and writer can share them.
        .target(name: "SafeIO"),
        // Deterministic parallel loops (results never depend on the thread count).
        .target(name: "Parallelism"),
        // JPEG decoding, EXIF orientation, OpenCV-exact resizing, tensor normalisation.
        .target(name: "Imaging", dependencies: ["CJPEG", "SafeIO"]),
        // VOC annotations, datasets and class lists.
        .target(name: "VOC", dependencies: ["CLibXML2", "Imaging", "Parallelism", "SafeIO"]),
        // Devkit-exact matching and AP, result files, the resumable/sharded runner, the paired bootstrap.
        .target(name: "Evaluation", dependencies: ["VOC", "Imaging", "Parallelism", "SafeIO"]),
        .target(name: "Tensors", dependencies: ["COpenBLAS", "CDNNL"]),
        .target(name: "Checkpoints", dependencies: ["SafeIO", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        .target(name: "SSD", dependencies: ["Imaging", "VOC", "Evaluation", "Tensors", "Checkpoints", "CDNNL", "SafeIO"]),
        .target(name: "Quantization", dependencies: [
            "SSD", "Tensors", "Checkpoints", "Imaging", "VOC", "Evaluation", "Parallelism", "COpenBLAS", "SafeIO",
        ]),
        // ONNX export: the messages of Proto/onnx_subset.proto, generated to Swift by protoc and committed
        // (onnx_subset.pb.swift); the .proto itself is not compiled.
        .target(name: "ONNXExport", dependencies: [
            "SSD", "Tensors", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], exclude: ["Proto/onnx_subset.proto"]),
        // The jobs behind the commands (demo, quantize, compare, sensitivity, diagnose, shards and merges, reports):
        // plain options structs in, results and files out; no ArgumentParser.
        .target(name: "Workflows", dependencies: [
            "Imaging", "VOC", "Evaluation", "Tensors", "Checkpoints", "SSD", "Quantization", "SafeIO",
        ]),
        // The CLI: ArgumentParser commands that parse and validate flags, call Workflows (or a module), print.
        .executableTarget(name: "mpq", dependencies: [
            "Workflows", "VOC", "Evaluation", "Tensors", "SSD", "Quantization", "SafeIO", "ONNXExport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "VOCTests", dependencies: ["Imaging", "VOC", "Evaluation", "Parallelism", "Checkpoints", "SafeIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "SafeIO", .product(name: "ZIPFoundation", package: "ZIPFoundation")], resources: [.copy("Fixtures")]),
        .testTarget(name: "SSDTests", dependencies: ["SSD", "Imaging", "VOC", "Tensors", "Checkpoints", "SafeIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "QuantizationTests", dependencies: [
            "Quantization", "SSD", "Tensors", "Checkpoints", "VOC", "Evaluation",
        ], resources: [.copy("Fixtures")]),
        .testTarget(name: "ONNXExportTests", dependencies: [
            "ONNXExport", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .testTarget(name: "mpqTests", dependencies: [
            "mpq", "Workflows", "Imaging", "VOC", "Evaluation", "Checkpoints", "SafeIO", "Quantization", "SSD",
        ], resources: [.copy("Fixtures")]),
    ]
)
