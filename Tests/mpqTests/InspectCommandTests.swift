import Foundation
import XCTest
@testable import mpq

/// `mpq inspect` end to end on the Checkpoints fixtures (read from the source tree).
final class InspectCommandTests: XCTestCase {
    private func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("CheckpointsTests/Fixtures/\(name)").path
    }

    func testJSONReportOfAWrappedZipCheckpoint() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-inspect-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: out) }
        var command = try Inspect.parseAsRoot([fixture("wrapped_state_dict_zip.pth"), "--json", out.path])
        try command.run()
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
        XCTAssertEqual(json["format"] as? String, "pytorchZip")
        XCTAssertEqual(json["tensor_count"] as? Int, 20)
        XCTAssertEqual(json["parameter_count"] as? Int, 189)
        XCTAssertEqual(json["metadata"] as? [String: String],
                       ["epoch": "7", "best_map": "0.5", "arch": "mb2-ssd-lite", "flag": "true"])
        let tensors = try XCTUnwrap(json["tensors"] as? [[String: Any]])
        XCTAssertEqual(tensors.first?["name"] as? String, "conv.weight")
        XCTAssertEqual(tensors.first?["shape"] as? [Int], [4, 3, 3, 3])
        XCTAssertEqual(tensors.first?["dtype"] as? String, "float32")
    }

    func testHostileFileFailsWithOneClearLine() throws {
        var command = try Inspect.parseAsRoot([fixture("malicious_legacy.pth")])
        XCTAssertThrowsError(try command.run()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("malicious_legacy.pth"), text)
            XCTAssertTrue(text.contains("'os.system'"), text)
            XCTAssertFalse(text.contains("\n"), text)
        }
    }

    func testEmptyJSONPathIsAValidationError() {
        XCTAssertThrowsError(try Inspect.parseAsRoot([fixture("small_zip.pth"), "--json", ""]))
    }
}

/// `mpq inspect` recognises the SSD architecture and class count of real torch-saved detector files.
final class InspectModelTests: XCTestCase {
    func testArchitectureAndClassesOfTorchSavedDetectors() throws {
        let parity = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("SSDTests/Fixtures/parity/torch")
        for (file, arch, classes) in [("small-mb2-w0.25-c3.pth", "mb2-ssd-lite", 3), ("small-mb1-c5.pth", "mb1-ssd", 5),
                                      ("small-vgg16-ssd-c6-fp16.pth", "vgg16-ssd", 6),
                                      ("small-ssd300-c4.pth", "ssd300-vgg16", 4)] {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-inspect-model-\(getpid()).json")
            defer { try? FileManager.default.removeItem(at: out) }
            var command = try Inspect.parseAsRoot([parity.appendingPathComponent(file).path, "--json", out.path])
            try command.run()
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
            XCTAssertEqual(json["architecture"] as? String, arch, file)
            XCTAssertEqual(json["classes"] as? Int, classes, file)
        }
    }
}
