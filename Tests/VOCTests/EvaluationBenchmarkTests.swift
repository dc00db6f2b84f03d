import Foundation
import XCTest
import Imaging
import Evaluation
import VOC

/// Opt-in benchmark (skipped unless MPQ_BENCH=1): parse and score 200k detections over 5k images, 20 classes.
/// Run in release:
///   swift build -c release --build-tests -Xswiftc -enable-testing
///   MPQ_BENCH=1 swift test -c release --skip-build --filter EvaluationBenchmarkTests
final class EvaluationBenchmarkTests: XCTestCase {
    func testScoring200kDetectionsOver5kImages() throws {
        guard ProcessInfo.processInfo.environment["MPQ_BENCH"] == "1" else {
            print("EvaluationBenchmarkTests skipped: set MPQ_BENCH=1 to run the scoring benchmark")
            return
        }
        var rng = SystemRandomNumberGenerator()
        let classes = (0..<20).map { "class\($0)" }
        let ids = (0..<5000).map { String(format: "%06d", $0) }
        var objects: [[GroundTruthObject]] = []
        for _ in ids {
            objects.append((0..<Int.random(in: 1...5, using: &rng)).map { _ in
                let x = Int.random(in: 1...300, using: &rng), y = Int.random(in: 1...300, using: &rng)
                return GroundTruthObject(classIndex: Int.random(in: 0..<20, using: &rng),
                                         box: PixelBox(xmin: x, ymin: y, xmax: x + Int.random(in: 10...150, using: &rng),
                                                       ymax: y + Int.random(in: 10...150, using: &rng)),
                                         difficult: Int.random(in: 0..<10, using: &rng) == 0)
            })
        }
        let gt = GroundTruth(classNames: classes, imageIDs: ids, objects: objects)
        // 10k lines per class, as text, near ground truth half of the time.
        var texts = [String](repeating: "", count: 20)
        for c in 0..<20 {
            var lines: [String] = []
            lines.reserveCapacity(10_000)
            for _ in 0..<10_000 {
                let i = Int.random(in: 0..<5000, using: &rng)
                let mine = objects[i].filter { $0.classIndex == c }
                let b = mine.first?.box ?? PixelBox(xmin: 5, ymin: 5, xmax: 80, ymax: 90)
                let j = { Double.random(in: -8...8, using: &rng) }
                lines.append("\(ids[i]) \(Float.random(in: 0..<1, using: &rng)) \(Double(b.xmin) + j()) "
                    + "\(Double(b.ymin) + j()) \(Double(b.xmax) + j()) \(Double(b.ymax) + j())\n")
            }
            texts[c] = lines.joined()
        }
        // Wall time and process CPU time (the machine may be shared: CPU time is what the work costs).
        func cpuSeconds() -> Double {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
                + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        let datas = texts.map { Data($0.utf8) }
        let (w0, c0) = (Date(), cpuSeconds())
        let detections = try datas.map { try ResultFiles.parse($0, file: "bench", imageIndex: gt.imageIndex(of:)) }
        print(String(format: "bench: parse 200k result lines: %.3f s wall, %.3f s CPU", Date().timeIntervalSince(w0),
                     cpuSeconds() - c0))
        var mAP = 0.0
        for p in EvaluationProtocol.allCases {
            let (w, c) = (Date(), cpuSeconds())
            let result = DetectionEvaluator.evaluate(groundTruth: gt, detections: detections, metric: .voc07, protocol: p)
            mAP = result.mAP ?? -1
            print(String(format: "bench: score 200k detections / 5k images (%@): %.3f s wall, %.3f s CPU, mAP %.4f",
                         p.rawValue, Date().timeIntervalSince(w), cpuSeconds() - c, mAP))
        }
        XCTAssertEqual(detections.reduce(0) { $0 + $1.count }, 200_000)
        XCTAssertGreaterThan(mAP, 0)
    }
}
