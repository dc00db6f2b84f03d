import XCTest
@testable import SSD

/// The loader against the real key layouts (reference/keys/*.txt, copied to Fixtures/keys).
final class ArchitectureTests: XCTestCase {
    static let keyFiles: [(Architecture, String)] = [
        (.mb2SSDLite, "keys_mb2-ssd-lite"), (.mb1SSD, "keys_mb1-ssd"), (.vgg16SSD, "keys_vgg16-ssd"),
        (.ssd300VGG16, "keys_amdegroot-ssd300"),
    ]

    static func source(_ name: String) throws -> ShapeOnlySource {
        try ShapeOnlySource(keysFile: ParityFixtures.root.appendingPathComponent("keys/\(name).txt"))
    }

    func testDetectionAndClassCountFromRealKeyLayouts() throws {
        for (arch, file) in Self.keyFiles {
            let source = try Self.source(file)
            XCTAssertEqual(Architecture.detect(keys: source.tensorNames), arch, file)
            XCTAssertEqual(arch.classCount(headShape: source.shape(of: arch.lastClassificationHeadKey)), 21, file)
        }
        XCTAssertNil(Architecture.detect(keys: ["fc.weight", "fc.bias"]))
    }

    /// Every real key is consumed with its real shape (strict loading succeeds) and the conv list is complete.
    func testRealLayoutsLoadStrictly() throws {
        // Conv counts: mb2 1 + 17 blocks (16 with 3 convs, 1 with 2) + 1 + 4 extras * 3 + heads 2 * (5 * 2 + 1);
        // mb1 1 + 13 * 2 + 4 * 2 + 12; VGG 15 base convs + 8 extras + 12 heads.
        let expectedConvs: [Architecture: Int] = [.mb2SSDLite: 1 + 50 + 1 + 12 + 22, .mb1SSD: 1 + 26 + 8 + 12,
                                                  .vgg16SSD: 15 + 8 + 12, .ssd300VGG16: 15 + 8 + 12]
        for (arch, file) in Self.keyFiles where arch != .vgg16SSD && arch != .ssd300VGG16 || ParityFixtures.heavyTestsEnabled {
            let model = try SSDModel(loading: Self.source(file), file: file)
            XCTAssertEqual(model.architecture, arch)
            XCTAssertEqual(model.classes, 21)
            let convs = model.convolutions
            XCTAssertEqual(convs.count, expectedConvs[arch], file)
            XCTAssertEqual(Set(convs.map(\.name)).count, convs.count, "conv names unique")
        }
        let mb2 = try SSDModel(loading: Self.source("keys_mb2-ssd-lite"), file: "mb2")
        let names = mb2.convolutions.map(\.name)
        // Execution order: block 14's expansion, then source 0's heads, then block 14's depthwise conv.
        let i = try XCTUnwrap(names.firstIndex(of: "base_net.14.conv.0"))
        XCTAssertEqual(Array(names[i...(i + 5)]), ["base_net.14.conv.0", "classification_headers.0.0",
                                                   "classification_headers.0.3", "regression_headers.0.0",
                                                   "regression_headers.0.3", "base_net.14.conv.3"])
        XCTAssertEqual(mb2.convolutions[i].foldedBatchNorm, "base_net.14.conv.1")
        XCTAssertEqual(mb2.convolutions[i + 5].conv.groups, 576)
    }
}
