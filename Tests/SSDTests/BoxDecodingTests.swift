import XCTest
@testable import SSD

final class BoxDecodingTests: XCTestCase {
    func testHandComputedDecode() {
        // Prior (0.5, 0.4, 0.2, 0.1); offsets (1, -2, 0, ln(2)/0.2):
        // cx = 1 * 0.1 * 0.2 + 0.5 = 0.52; cy = -2 * 0.1 * 0.1 + 0.4 = 0.38; w = exp(0) * 0.2 = 0.2;
        // h = exp(ln 2) * 0.1 = 0.2 -> corners (0.42, 0.28, 0.62, 0.48).
        let boxes = BoxDecoder().decode(locations: [1, -2, 0, Float(log(2.0) / 0.2)], priors: [0.5, 0.4, 0.2, 0.1])
        let expected: [Float] = [0.42, 0.28, 0.62, 0.48]
        for i in 0..<4 { XCTAssertEqual(boxes[i], expected[i], accuracy: 1e-6) }
        let amdegroot = BoxDecoder(convention: .amdegroot).decode(locations: [1, -2, 0, Float(log(2.0) / 0.2)],
                                                                 priors: [0.5, 0.4, 0.2, 0.1])
        for i in 0..<4 { XCTAssertEqual(amdegroot[i], expected[i], accuracy: 1e-6) }
    }

    func testBoxesAreNotClipped() {
        // A prior at the corner pushed outward: cx = -3 * 0.1 * 0.5 + 0.1 = -0.05, w = exp(1) * 0.5 = 1.3591.
        let b = BoxDecoder().decode(locations: [-3, 0, 5, 0], priors: [0.1, 0.5, 0.5, 0.5])
        XCTAssertEqual(b[0], -0.05 - Float(exp(1.0)) * 0.25, accuracy: 1e-6)
        XCTAssertLessThan(b[0], 0)
    }
}
