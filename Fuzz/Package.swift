// swift-tools-version: 6.0
import PackageDescription

// libFuzzer targets for mpq's parsers, kept out of the main package so `swift build` and `swift test` never see
// the sanitizer flags. Build and run with `Scripts/fuzz.sh TARGET SECONDS` (docs/fuzzing.md).
let package = Package(
    name: "MPQFuzz",
    dependencies: [.package(name: "mpq", path: "..")],
    targets: [
        // One executable for every target (FUZZ_TARGET selects the parser): one link of the instrumented modules
        // instead of five.
        .executableTarget(name: "mpq-fuzz", dependencies: [
            .product(name: "Checkpoints", package: "mpq"),
            .product(name: "VOC", package: "mpq"),
            .product(name: "Imaging", package: "mpq"),
            .product(name: "SSD", package: "mpq"),
        ], path: "Sources/MPQFuzz"),
    ],
    swiftLanguageModes: [.v5]
)
