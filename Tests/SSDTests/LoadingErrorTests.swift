import XCTest
@testable import SSD

final class LoadingErrorTests: XCTestCase {
    func base() throws -> ShapeOnlySource { try ArchitectureTests.source("keys_mb1-ssd") }

    func expectError(_ source: any NamedTensorSource, arch: Architecture? = nil, _ expected: SSDModelError,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SSDModel(loading: source, file: "model.pth", architecture: arch), file: file,
                             line: line) { error in
            XCTAssertEqual(error as? SSDModelError, expected, file: file, line: line)
        }
    }

    func testMissingKey() throws {
        var s = EditedSource(base: try base())
        s.removed = ["base_net.5.4.running_var"]
        expectError(s, .missingKey(file: "model.pth", key: "base_net.5.4.running_var"))
        XCTAssertEqual(SSDModelError.missingKey(file: "model.pth", key: "k").description,
                       "model.pth: missing tensor 'k'")
    }

    func testUnexpectedKey() throws {
        var s = EditedSource(base: try base())
        s.added = ["fc.weight": [10, 1024]]
        expectError(s, .unexpectedKeys(file: "model.pth", keys: ["fc.weight"]))
    }

    func testWrongShapes() throws {
        var s = EditedSource(base: try base())
        s.reshaped = ["base_net.3.3.weight": [128, 64, 1, 1]]       // in-channels must be 128 (previous block)
        expectError(s, .wrongShape(file: "model.pth", key: "base_net.3.3.weight", expected: "[*, 128, 1, 1]",
                                   actual: [128, 64, 1, 1]))
        s.reshaped = ["base_net.2.1.bias": [63]]                    // BN of a 64-channel depthwise conv
        expectError(s, .wrongShape(file: "model.pth", key: "base_net.2.1.bias", expected: "[64]", actual: [63]))
        s.reshaped = ["regression_headers.2.weight": [20, 512, 3, 3]]   // 6 anchors * 4 = 24 outputs
        expectError(s, .wrongShape(file: "model.pth", key: "regression_headers.2.weight",
                                   expected: "[24, 512, 3, 3]", actual: [20, 512, 3, 3]))
        s.reshaped = ["base_net.0.0.weight": [32, 3, 1, 1]]         // the stem is 3x3
        expectError(s, .wrongShape(file: "model.pth", key: "base_net.0.0.weight", expected: "[*, 3, 3, 3]",
                                   actual: [32, 3, 1, 1]))
    }

    func testUnknownAndForcedWrongArchitecture() throws {
        var s = EditedSource(base: try base())
        s.removed = Set(try base().tensorNames)
        s.added = ["layer.weight": [1]]
        expectError(s, .unknownArchitecture(file: "model.pth", sampleKeys: ["layer.weight"]))
        expectError(try base(), arch: .mb2SSDLite, .missingKey(file: "model.pth", key: "base_net.1.conv.0.weight"))
    }
}
