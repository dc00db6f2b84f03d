import Foundation
import XCTest

extension XCTestCase {
    /// A fresh folder, removed when the test ends.
    func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// A small VOC-layout dataset (class list "car, chair") whose images are copies of the VOC2007 sample files
    /// 000003-000005: id `a000004` is a copy of 000004, `b000004` another copy under another id.
    /// - Parameter splits: split name → image ids (a letter and a sample number, e.g. `TestDataset.ids("a")`).
    func makeTestDataset(splits: [String: [String]]) throws -> URL {
        let root = try temporaryFolder()
        let fm = FileManager.default
        for folder in ["Annotations", "ImageSets/Main", "JPEGImages"] {
            try fm.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        for id in Set(splits.values.joined()) {
            let source = String(id.dropFirst())
            try fm.copyItem(at: RepositoryFixtures.voc2007.appendingPathComponent("Annotations/\(source).xml"),
                            to: root.appendingPathComponent("Annotations/\(id).xml"))
            try fm.copyItem(at: RepositoryFixtures.voc2007.appendingPathComponent("JPEGImages/\(source).jpg"),
                            to: root.appendingPathComponent("JPEGImages/\(id).jpg"))
        }
        for (split, ids) in splits {
            try Data((ids.joined(separator: "\n") + "\n").utf8)
                .write(to: root.appendingPathComponent("ImageSets/Main/\(split).txt"))
        }
        try Data("car\nchair\n".utf8).write(to: root.appendingPathComponent("labels.txt"))
        return root
    }
}

/// The CLI tests' model and dataset layouts.
enum TestDataset {
    /// The small parity checkpoint (MobileNetV2 SSD-Lite, width 0.25, car/chair + background) the datasets fit.
    static let checkpoint = RepositoryFixtures.testsFolder
        .appendingPathComponent("SSDTests/Fixtures/parity/torch/small-mb2-w0.25-c3.pth")

    /// `prefix000003`, `prefix000004`, `prefix000005`.
    static func ids(_ prefix: String) -> [String] { (3...5).map { prefix + String(format: "%06d", $0) } }

    /// Calibration and evaluation on disjoint ids: trainval = a000003…a000005, test = b000003…b000005 (same
    /// pictures), and "overlap" sharing b000004 with test.
    static let calibrationAndTest: [String: [String]] = [
        "trainval": ids("a"), "test": ids("b"), "overlap": ["a000003", "b000004"],
    ]
}

/// The range an mAP printed by the evaluator can take. A perfect VOC07 AP is not exactly 1: the devkit sums
/// `p / 11` eleven times (`ap = ap + p/11`), which gives 1.0000000000000002, and the evaluator keeps that order
/// to stay bit-identical to it (the trained demo detector scores a perfect AP on a few images).
let validMAP: ClosedRange<Double> = 0...(1 + 1e-12)
