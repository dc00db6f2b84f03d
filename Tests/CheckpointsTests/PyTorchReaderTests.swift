import Foundation
import XCTest
@testable import Checkpoints

/// `.pth` files written by PyTorch 2.13 (legacy and zip), compared value by value with `expected.json`.
final class PyTorchReaderTests: XCTestCase {
    func testLegacyFileMatchesPyTorchValues() throws {
        let (dict, format) = try Checkpoint.load(Fixtures.url("small_legacy.pth"))
        XCTAssertEqual(format, .pytorchLegacy)
        try assertMatches(dict, Fixtures.expected().small)
        XCTAssertEqual(dict.metadata, [:])
    }

    func testZipFileMatchesPyTorchValues() throws {
        let (dict, format) = try Checkpoint.load(Fixtures.url("small_zip.pth"))
        XCTAssertEqual(format, .pytorchZip)
        try assertMatches(dict, Fixtures.expected().small)
    }

    func testProtocol4LegacyFileIsDetectedAndRead() throws {
        let (dict, format) = try Checkpoint.load(Fixtures.url("small_legacy_protocol4.pth"))
        XCTAssertEqual(format, .pytorchLegacy)
        try assertMatches(dict, Fixtures.expected().small)
    }

    func testPython2StringOpcodesGiveTheSameTensors() throws {
        let (dict, format) = try Checkpoint.load(Fixtures.url("python2_legacy.pth"))
        XCTAssertEqual(format, .pytorchLegacy)
        try assertMatches(dict, Fixtures.expected().small)
    }

    func testViewsSharingOneStorageAreMaterialised() throws {
        let dict = try PyTorchLegacyReader.read(Fixtures.url("small_legacy.pth"))
        // base = arange(12).reshape(3, 4) * 0.5 - 1: row r, column c holds 0.5 * (4r + c) - 1.
        let base = try XCTUnwrap(dict["view.base"]).floats()
        XCTAssertEqual(base, (0..<12).map { Float($0) * 0.5 - 1 })
        // transposed[c][r] = base[r][c]: first row is base's first column (-1, 1, 3).
        let transposed = try XCTUnwrap(dict["view.transposed"])
        XCTAssertEqual(transposed.shape, [4, 3])
        XCTAssertEqual(Array(try transposed.floats().prefix(3)), [-1, 1, 3])
        // slice = base[1:, 1:3] = elements 5, 6, 9, 10 -> 1.5, 2, 3.5, 4.
        XCTAssertEqual(try XCTUnwrap(dict["view.slice"]).floats(), [1.5, 2, 3.5, 4])
        // expand(2, 3) of [1.5, -2, 3.25] has stride 0 on the first axis.
        XCTAssertEqual(try XCTUnwrap(dict["view.expanded"]).floats(), [1.5, -2, 3.25, 1.5, -2, 3.25])
    }

    func testPre1Point0StorageViewsAndFourArgumentRebuild() throws {
        // Storage 'root' = 1.5 * arange(10); the persistent id's view_metadata ('view', 2, 5) makes the
        // tensors see root[2..<7] (values checked against torch.load by the generator).
        let (dict, format) = try Checkpoint.load(Fixtures.url("old_style_views_legacy.pth"))
        XCTAssertEqual(format, .pytorchLegacy)
        let expected = try Fixtures.expected().old_style
        XCTAssertEqual(dict.keys, ["old", "v2"])
        XCTAssertEqual(try XCTUnwrap(dict["old"]).floats(), expected["old"])
        XCTAssertEqual(try XCTUnwrap(dict["v2"]).floats(), expected["v2"])
        XCTAssertEqual(dict["v2"]?.shape, [2, 2])
    }

    func testIntegerScalarNumBatchesTracked() throws {
        let (dict, _) = try Checkpoint.load(Fixtures.url("small_zip.pth"))
        let tracked = try XCTUnwrap(dict["bn.num_batches_tracked"])
        XCTAssertEqual(tracked.dtype, .int64)
        XCTAssertEqual(tracked.shape, [])
        XCTAssertEqual(try tracked.int64s(), [12345])
        XCTAssertThrowsError(try tracked.int8s())
    }

    func testParameterCountSumsAllElements() throws {
        let (dict, _) = try Checkpoint.load(Fixtures.url("small_legacy.pth"))
        let expected = try Fixtures.expected().small.reduce(0) { $0 + $1.values.count }
        // conv 4*3*3*3 + 4 = 112, BN 4*4 + 1 = 17 (129), base 12 (141), transposed 12 (153), slice 4 (157),
        // expanded 6 (163), half 6 (169), bf16 3 (172), double 2 (174), int32 3 (177), int8 4 (181),
        // uint8 4 (185), bool 3 (188), empty 0, scalar 1 = 189.
        XCTAssertEqual(expected, 189)
        XCTAssertEqual(dict.parameterCount, 189)
    }

    func testWrappersAreUnwrappedAndScalarsKeptAsMetadata() throws {
        let expected = try Fixtures.expected()
        for (name, metadata) in expected.wrapped_metadata {
            let (dict, _) = try Checkpoint.load(Fixtures.url(name))
            try assertMatches(dict, expected.small)
            XCTAssertEqual(dict.metadata, metadata, name)
        }
    }

    func testModulePrefixStrippedOnlyWhenOnEveryKey() throws {
        let (dict, format) = try Checkpoint.load(Fixtures.url("wrapped_model_module_legacy.pth"))
        XCTAssertEqual(format, .pytorchLegacy)
        XCTAssertEqual(dict.keys.first, "conv.weight")
        XCTAssertFalse(dict.keys.contains { $0.hasPrefix("module.") })
    }
}
