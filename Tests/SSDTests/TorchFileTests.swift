import Checkpoints
import Foundation
import XCTest
@testable import SSD

/// Small networks in the real key layouts (narrow channels, few classes) saved by `torch.save` in the legacy and
/// zip formats (one in float16), loaded unchanged and run against PyTorch's outputs.
final class TorchFileTests: XCTestCase {
    func check(_ name: String, format expected: CheckpointFormat) throws {
        let c = try ParityFixtures.testCase(name)
        let url = try ParityFixtures.parity.appendingPathComponent(try XCTUnwrap(c.file))
        let (dict, format) = try Checkpoint.load(url)
        XCTAssertEqual(format, expected, name)
        try ParityTests.check(name, source: dict)
        for id in c.detections.keys.sorted() where id != c.golden_image { try ParityTests.check(name, image: id, source: dict) }
    }

    func testLegacyMobileNetV2WidthQuarterThreeClasses() throws { try check("small-mb2-w0.25-c3", format: .pytorchLegacy) }
    func testZipMobileNetV1FiveClasses() throws { try check("small-mb1-c5", format: .pytorchZip) }
    func testLegacyFloat16VGG16SSD() throws { try check("small-vgg16-ssd-c6-fp16", format: .pytorchLegacy) }
    func testZipSSD300FourClasses() throws { try check("small-ssd300-c4", format: .pytorchZip) }
    /// Older qfgaohao VGG16 SSD files: ScaledL2Norm (`source_layer_add_ons.0.scale`) instead of BatchNorm2d.
    func testLegacyVGG16SSDWithScaledL2Norm() throws { try check("small-vgg16-ssd-l2norm-c3", format: .pytorchLegacy) }

    func testLoadFromURLDetectsArchitectureAndClasses() throws {
        let url = try ParityFixtures.parity.appendingPathComponent("torch/small-mb2-w0.25-c3.pth")
        let (model, format) = try SSDModel.load(contentsOf: url)
        XCTAssertEqual(format, .pytorchLegacy)
        XCTAssertEqual(model.architecture, .mb2SSDLite)
        XCTAssertEqual(model.classes, 3)
        // Width 0.25: stem int(32 * 0.25) = 8 channels; block 14 expands int(96 * 0.25) = 24 -> round(24 * 6) = 144.
        let convs = Dictionary(uniqueKeysWithValues: model.convolutions.map { ($0.name, $0.conv) })
        XCTAssertEqual(convs["base_net.0.0"]?.outChannels, 8)
        XCTAssertEqual(convs["base_net.14.conv.0"]?.outChannels, 144)
    }

    func testTruncatedCheckpointIsAClearError() throws {
        let url = try ParityFixtures.parity.appendingPathComponent("torch/small-mb1-c5.pth")
        let data = try Data(contentsOf: url)
        for (format, source) in [("zip", url), ("legacy", try ParityFixtures.parity.appendingPathComponent("torch/small-mb2-w0.25-c3.pth"))] {
            let bytes = try Data(contentsOf: source)
            let cut = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-truncated-\(format)-\(getpid()).pth")
            try bytes.prefix(bytes.count / 2).write(to: cut)
            defer { try? FileManager.default.removeItem(at: cut) }
            XCTAssertThrowsError(try SSDModel.load(contentsOf: cut)) { error in
                XCTAssertTrue(error is CheckpointError, "\(format): \(error)")
                XCTAssertTrue("\(error)".contains(cut.path), "\(format): error names the file: \(error)")
            }
        }
        XCTAssertGreaterThan(data.count, 0)
    }

    func testWrongShapeInARealFileNamesTheKey() throws {
        let url = try ParityFixtures.parity.appendingPathComponent("torch/small-ssd300-c4.pth")
        var (dict, _) = try Checkpoint.load(url)
        let bad = StoredTensor(floats: [Float](repeating: 0, count: 7), shape: [7])
        dict.set("L2Norm.weight", bad)
        XCTAssertThrowsError(try SSDModel(loading: dict, file: "ssd300.pth")) { error in
            XCTAssertEqual(error as? SSDModelError,
                           .wrongShape(file: "ssd300.pth", key: "L2Norm.weight", expected: "[32]", actual: [7]))
            XCTAssertEqual("\(error)", "ssd300.pth: tensor 'L2Norm.weight' has shape [7], expected [32]")
        }
        dict.remove("L2Norm.weight")
        XCTAssertThrowsError(try SSDModel(loading: dict, file: "ssd300.pth")) { error in
            // Without L2Norm.weight the keys no longer look like amdegroot's.
            XCTAssertEqual(error as? SSDModelError,
                           .unknownArchitecture(file: "ssd300.pth", sampleKeys: Array(dict.keys.prefix(4))))
        }
    }

    /// Full-size networks saved by torch (legacy and zip) by `gen_ssd_fixtures.py --heavy-dir DIR`; opt-in with
    /// MPQ_HEAVY_TESTS=1 and MPQ_SSD_HEAVY_DIR=DIR (default /tmp/mpq-ssd-heavy).
    func testFullSizeTorchFiles() throws {
        let env = ProcessInfo.processInfo.environment
        let dir = URL(fileURLWithPath: env["MPQ_SSD_HEAVY_DIR"] ?? "/tmp/mpq-ssd-heavy")
        guard ParityFixtures.heavyTestsEnabled else {
            print("skipped testFullSizeTorchFiles: set MPQ_HEAVY_TESTS=1 (and MPQ_SSD_HEAVY_DIR) to run")
            return
        }
        for name in ["mb2-ssd-lite", "mb2-ssd-lite-w0.5", "mb1-ssd", "vgg16-ssd", "ssd300-vgg16"] {
            for (suffix, format) in [("legacy", CheckpointFormat.pytorchLegacy), ("zip", .pytorchZip)] {
                let url = dir.appendingPathComponent("\(name)-\(suffix).pth")
                let (dict, detected) = try Checkpoint.load(url)
                XCTAssertEqual(detected, format)
                try ParityTests.check(name, source: dict)
            }
        }
    }
}
