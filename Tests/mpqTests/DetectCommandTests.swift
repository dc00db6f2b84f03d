import Checkpoints
import Foundation
import XCTest

/// `mpq detect` end to end: a torch-saved small mb2-ssd-lite (SSDTests parity fixtures) on real VOC JPEGs,
/// against the PyTorch reference's detections (cv2 decode + cv2 resize + the torch network).
final class DetectCommandTests: XCTestCase {
    static var parity: URL { RepositoryFixtures.testsFolder.appendingPathComponent("SSDTests/Fixtures/parity") }
    static var model: String { parity.appendingPathComponent("torch/small-mb2-w0.25-c3.pth").path }
    static func image(_ id: String) -> String { RepositoryFixtures.voc2007.appendingPathComponent("JPEGImages/\(id).jpg").path }

    static func golden(_ relative: String) throws -> [Float] {
        let data = try Data(contentsOf: parity.appendingPathComponent(relative))
        return data.withUnsafeBytes { raw in
            (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    func testJSONDetectionsAndRawDumpMatchPyTorch() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-detect-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let raw = dir.appendingPathComponent("raw.safetensors").path
        let run = try runMPQ(["detect", "--model", Self.model, Self.image("000001"), Self.image("000004"),
                              "--score-threshold", "0.01", "--json", "-", "--dump-raw", raw, "--draw",
                              dir.appendingPathComponent("drawn").path, "--threads", "2"])
        XCTAssertExit(run, 0)
        XCTAssertTrue(run.stderr.contains("mb2-ssd-lite, 3 classes"), run.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(json.count, 2)
        for (entry, id) in zip(json, ["000001", "000004"]) {
            let golden = try Self.golden("golden/small-mb2-w0.25-c3_\(id)_detections.f32")
            let items = try XCTUnwrap(entry["detections"] as? [[String: Any]])
            XCTAssertEqual(items.count * 6, golden.count, id)
            for (i, item) in items.enumerated() where 6 * i + 5 < golden.count {
                XCTAssertEqual(item["class_index"] as? Int, Int(golden[6 * i]) - 1, "\(id) #\(i)")
                XCTAssertEqual(item["class"] as? String, "class \(Int(golden[6 * i]))")
                XCTAssertEqual((item["score"] as? Double).map { Float($0) } ?? -1, golden[6 * i + 1], accuracy: 1e-5)
                let box = try XCTUnwrap(item["box"] as? [Double])
                for k in 0..<4 { XCTAssertEqual(Float(box[k]), golden[6 * i + 2 + k], accuracy: 0.01, "\(id) #\(i)") }
            }
        }
        // --dump-raw: the first image's softmax scores and decoded boxes, as PyTorch's.
        let dump = try SafeTensors.read(URL(fileURLWithPath: raw))
        XCTAssertEqual(dump["scores"]?.shape, [3000, 3])
        XCTAssertEqual(dump["boxes"]?.shape, [3000, 4])
        for name in ["scores", "boxes"] {
            let got = try XCTUnwrap(dump[name]).floats()
            let want = try Self.golden("golden/small-mb2-w0.25-c3_000001_\(name).f32")
            XCTAssertLessThanOrEqual(zip(got, want).map { abs($0 - $1) }.max() ?? 1, 1e-4, name)
        }
        // --draw: one PNG per image, the original size (353 x 500 for 000001: IHDR width/height big-endian).
        let png = try Data(contentsOf: dir.appendingPathComponent("drawn/000001.png"))
        XCTAssertEqual(Array(png[16..<24]), [0, 0, 1, 97, 0, 0, 1, 244])
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("drawn/000004.png").path))
    }

    func testTextOutputAtDefaultThreshold() throws {
        let run = try runMPQ(["detect", "--model", Self.model, Self.image("000001")])
        XCTAssertExit(run, 0)
        let golden = try Self.golden("golden/small-mb2-w0.25-c3_000001_detections.f32")
        let above = stride(from: 1, to: golden.count, by: 6).filter { golden[$0] > 0.3 }.count
        XCTAssertEqual(run.stdoutLines.first, "\(Self.image("000001")): \(above) detections")
        XCTAssertEqual(run.stdoutLines.count, above + 1)
    }

    func testBadInputsFailWithOneClearLine() throws {
        let missing = try runMPQ(["detect", "--model", "/nonexistent/model.pth", Self.image("000001")])
        XCTAssertExit(missing, 1)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/model.pth"), missing.stderr)
        XCTAssertEqual(missing.stderrLines.count, 1, missing.stderr)

        let truncated = RepositoryFixtures.vocSamples.appendingPathComponent("corrupt/000001_truncated.jpg").path
        let badImage = try runMPQ(["detect", "--model", Self.model, truncated])
        XCTAssertExit(badImage, 1)
        XCTAssertTrue(badImage.stderr.contains("000001_truncated.jpg"), badImage.stderr)

        let notAModel = try runMPQ(["detect", "--model", Self.image("000001"), Self.image("000001")])
        XCTAssertExit(notAModel, 1)
        XCTAssertTrue(notAModel.stderr.contains("not a PyTorch"), notAModel.stderr)

        let wrongArch = try runMPQ(["detect", "--model", Self.model, "--arch", "vgg16-ssd", Self.image("000001")])
        XCTAssertExit(wrongArch, 1)
        XCTAssertTrue(wrongArch.stderr.contains("missing tensor 'base_net.0.weight'"), wrongArch.stderr)

        for args in [["--score-threshold", "1.5"], ["--threads", "0"], ["--arch", "resnet"]] {
            let run = try runMPQ(["detect", "--model", Self.model, Self.image("000001")] + args)
            XCTAssertExit(run, 64, args.joined(separator: " "))
        }
        XCTAssertExit(try runMPQ(["detect", "--model", Self.model]), 64)
    }
}

final class DetectHelpTests: XCTestCase {
    func testHelpHasAbstractOptionsAndExamples() throws {
        let run = try runMPQ(["detect", "--help"])
        XCTAssertExit(run, 0)
        for text in ["Detect objects in JPEG images", "--model <file>", "--arch <name>", "--score-threshold <p>",
                     "--json <file>", "--draw <dir>", "--dump-raw <file>", "--threads <n>", "Examples:"] {
            XCTAssertTrue(run.stdout.contains(text), "missing '\(text)' in:\n\(run.stdout)")
        }
    }
}
