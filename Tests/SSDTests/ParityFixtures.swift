import Checkpoints
import Foundation
import Tensors
import VOC
@testable import SSD

/// The parity fixtures written by `python3 Scripts/gen_ssd_fixtures.py` (see its doc for the layout).
enum ParityFixtures {
    struct Image: Decodable {
        let id: String
        let width: Int
        let height: Int
        let file: String
    }

    struct DetectionFile: Decodable {
        let file: String
        let count: Int
    }

    struct Case: Decodable {
        let name: String
        let arch: String
        let num_classes: Int
        let width_mult: Double
        let priors: Int
        let detections: [String: DetectionFile]
        let golden_image: String
        let scores: String
        let boxes: String
        let recipe: String?
        let file: String?
        let format: String?
        let dtype: String?
    }

    struct Manifest: Decodable {
        let images: [Image]
        let cases: [Case]
    }

    static var root: URL {
        get throws {
            guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
                throw CocoaError(.fileNoSuchFile)
            }
            return url
        }
    }

    static var parity: URL { get throws { try root.appendingPathComponent("parity") } }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: parity.appendingPathComponent("manifest.json")))
    }

    static func testCase(_ name: String) throws -> Case {
        guard let c = try manifest().cases.first(where: { $0.name == name }) else { throw CocoaError(.fileNoSuchFile) }
        return c
    }

    static func floats(_ relative: String) throws -> [Float] {
        let data = try Data(contentsOf: parity.appendingPathComponent(relative))
        return data.withUnsafeBytes { raw in
            (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    /// The image's 300x300 RGB bytes (cv2 resize of the cv2-decoded JPEG), normalised for `arch`:
    /// `[1, 3, 300, 300]`.
    static func input(_ image: Image, arch: Architecture) throws -> Tensor {
        let bytes = [UInt8](try Data(contentsOf: parity.appendingPathComponent(image.file)))
        precondition(bytes.count == 300 * 300 * 3)
        let mean: [Float] = arch == .mb2SSDLite || arch == .mb1SSD ? [127, 127, 127] : [123, 117, 104]
        let scale: Float = arch == .mb2SSDLite || arch == .mb1SSD ? 1.0 / 128 : 1
        var data = [Float](repeating: 0, count: 3 * 90_000)
        for i in 0..<90_000 {
            for c in 0..<3 { data[c * 90_000 + i] = (Float(bytes[3 * i + c]) - mean[c]) * scale }
        }
        return Tensor(shape: [1, 3, 300, 300], data: data)
    }

    /// Golden detections `[n, 6]` rows: network class (1…), score, x1, y1, x2, y2.
    static func detections(_ file: DetectionFile) throws -> [Detection] {
        let v = try floats(file.file)
        precondition(v.count == file.count * 6)
        return (0..<file.count).map { i in
            Detection(classIndex: Int(v[6 * i]) - 1, score: v[6 * i + 1], x1: v[6 * i + 2], y1: v[6 * i + 3],
                      x2: v[6 * i + 4], y2: v[6 * i + 5])
        }
    }

    static func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// A small torch-saved model of the fixtures and the first image, normalised for its architecture.
    static func smallModel(_ name: String) throws -> (SSDModel, Tensor) {
        let c = try testCase(name)
        guard let file = c.file else { throw CocoaError(.fileNoSuchFile) }
        let (dict, _) = try Checkpoint.load(try parity.appendingPathComponent(file))
        let model = try SSDModel(loading: dict, file: c.name)
        guard let image = try manifest().images.first else { throw CocoaError(.fileNoSuchFile) }
        return (model, try input(image, arch: model.architecture))
    }

    static var heavyTestsEnabled: Bool { ProcessInfo.processInfo.environment["MPQ_HEAVY_TESTS"] == "1" }
}
