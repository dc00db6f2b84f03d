import XCTest
import Quantization

final class ActivationTests: XCTestCase {
    /// Signed 8 bits, clip 31.75 → s = 31.75/127 = 0.25 (exact in binary).
    /// 0.125/0.25 = 0.5 → 1 (half away from zero) → 0.25; -0.375 → -1.5 → -2 → -0.5; 0.1 → 0.4 → 0;
    /// ±100 → clamped to ±127 → ±31.75.
    func testSignedFakeQuantHandComputed() throws {
        let q = try ActivationQuantizer(bits: 8, clip: 31.75, unsigned: false)
        XCTAssertEqual(q.scale, 0.25)
        XCTAssertEqual([0.125, -0.375, 0.1, 100, -100].map(q.fakeQuantize), [0.25, -0.5, 0, 31.75, -31.75])
    }

    /// Unsigned 8 bits, clip 63.75 → s = 63.75/255 = 0.25: -1 → 0; 1.125 → 4.5 → 5 → 1.25; 70 → 255 → 63.75.
    func testUnsignedFakeQuantHandComputed() throws {
        let q = try ActivationQuantizer(bits: 8, clip: 63.75, unsigned: true)
        XCTAssertEqual(q.scale, 0.25)
        XCTAssertEqual([-1, 1.125, 70].map(q.fakeQuantize), [0, 1.25, 63.75])
        XCTAssertThrowsError(try ActivationQuantizer(bits: 9, clip: 1, unsigned: true))
    }

    func testMinMaxOverBatchesAndGridChoice() throws {
        var signed = RangeObserver()
        signed.observe([-1, 2] as [Float])
        signed.observe([0.5, -3] as [Float])
        XCTAssertEqual(signed.minimum, -3)
        XCTAssertEqual(signed.maximum, 2)
        let s = try signed.quantizer(.minMax)
        XCTAssertFalse(s.isUnsigned)
        XCTAssertEqual(s.clip, 3)
        XCTAssertEqual(s.qmax, 127)

        var relu = RangeObserver()
        relu.observe([0, 1, 2] as [Float])
        relu.observe([4] as [Float])
        let u = try relu.quantizer(.minMax, bits: 4)
        XCTAssertTrue(u.isUnsigned)
        XCTAssertEqual(u.clip, 4)
        XCTAssertEqual(u.qmax, 15)
        XCTAssertEqual(relu.zeroCount, 1)
    }

    /// |x| = 0.001·i, i = 1…10000, fed in two batches (the second doubles the histogram range from 8 to 16
    /// and merges bins). The 99th percentile of 10000 values is the 9900th: 9.9; bin width 16/2048 = 0.0078.
    func testPercentileAcrossRangeGrowth() throws {
        var observer = RangeObserver()
        observer.observe((1...5000).map { Float($0) * 0.001 * ($0 % 2 == 0 ? 1 : -1) })
        XCTAssertEqual(observer.range, 8)
        observer.observe((5001...10000).map { Float($0) * 0.001 })
        XCTAssertEqual(observer.range, 16)
        XCTAssertEqual(try observer.clip(.percentile(99), bits: 8), 9.9, accuracy: 0.008)
        XCTAssertEqual(try observer.clip(.percentile(50), bits: 8), 5.0, accuracy: 0.008)
        XCTAssertEqual(try observer.clip(.percentile(100), bits: 8), 10, accuracy: 1e-6)
        XCTAssertThrowsError(try observer.clip(.percentile(0), bits: 8))
    }

    /// MSE clipping against a brute-force oracle on the raw values: the calibrated clip's true fake-quant
    /// error is within 2% of the best of 300 clips in (0, max|x|], and a heavy tail (0.5% of values ×10) is
    /// clipped at low bit widths while min-max keeps it.
    func testMSEClipNearOracleAndClipsOutliers() throws {
        var rng = SeededRNG(seed: 5)
        for (bits, nonNegative) in [(4, false), (3, false), (4, true), (3, true)] {
            var values = (0..<2000).map { i in Float(rng.gaussian()) * (i % 200 == 0 ? 10 : 1) }
            if nonNegative { values = values.map { Swift.max($0, 0) } }
            values.append(20)
            var observer = RangeObserver()
            observer.observe(values[0..<1000])
            observer.observe(values[1000...])
            let q = try observer.quantizer(.mse, bits: bits)
            XCTAssertEqual(q.isUnsigned, nonNegative)
            let top = try observer.clip(.minMax, bits: bits)
            XCTAssertGreaterThanOrEqual(top, 20)
            XCTAssertLessThan(Double(q.clip), 0.8 * top)
            XCTAssertGreaterThan(q.clip, 1)
            func trueError(_ clip: Float) throws -> Double {
                let fq = try ActivationQuantizer(bits: bits, clip: clip, unsigned: nonNegative)
                return values.reduce(0.0) { let e = Double($1 - fq.fakeQuantize($1)); return $0 + e * e }
            }
            let oracle = try (1...300).map { try trueError(Float(top) * Float($0) / 300) }.min() ?? 0
            XCTAssertLessThanOrEqual(try trueError(q.clip), oracle * 1.02, "bits \(bits) nonneg \(nonNegative)")
        }
    }

    func testAllZeroTensor() throws {
        var observer = RangeObserver()
        observer.observe([0, 0, 0] as [Float])
        let q = try observer.quantizer(.mse)
        XCTAssertEqual(q.clip, 0)
        XCTAssertEqual(q.fakeQuantize(3), 0)
    }
}
