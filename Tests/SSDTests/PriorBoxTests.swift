import XCTest
@testable import SSD

final class PriorBoxTests: XCTestCase {
    func testCountsMatchTheReferences() {
        XCTAssertEqual(Architecture.mb2SSDLite.priors.count, 3000)   // 6 * (361 + 100 + 25 + 9 + 4 + 1)
        XCTAssertEqual(Architecture.mb1SSD.priors.count, 3000)
        XCTAssertEqual(Architecture.vgg16SSD.priors.count, 8732)     // 4*1444 + 6*361 + 6*100 + 6*25 + 4*9 + 4*1
        XCTAssertEqual(Architecture.ssd300VGG16.priors.count, 8732)
        XCTAssertEqual(Architecture.vgg16SSD.anchorsPerCell, [4, 6, 6, 6, 4, 4])
    }

    func testFirstCellOfMobileNetPriors() {
        // Spec (19, 16, 60, 105, [2, 3]): scale = 300 / 16 = 18.75; cell (0, 0) centre 0.5 / 18.75 = 0.026666…
        // Boxes: 60/300 = 0.2; sqrt(60 * 105)/300 = 79.3725…/300 = 0.264575…; 0.2*sqrt2 = 0.282843, 0.2/sqrt2 =
        // 0.141421; 0.2*sqrt3 = 0.346410, 0.2/sqrt3 = 0.115470.
        let p = Architecture.mb2SSDLite.priors.centerForm
        let c: Float = 0.5 / 18.75
        let expected: [[Float]] = [[c, c, 0.2, 0.2], [c, c, 0.2645751, 0.2645751], [c, c, 0.2828427, 0.1414214],
                                   [c, c, 0.1414214, 0.2828427], [c, c, 0.3464102, 0.1154701],
                                   [c, c, 0.1154701, 0.3464102]]
        for (i, row) in expected.enumerated() {
            for j in 0..<4 { XCTAssertEqual(p[4 * i + j], row[j], accuracy: 1e-6, "prior \(i) coord \(j)") }
        }
    }

    func testRowsAreTheOuterLoopAndScaleIsNotTheMapSize() {
        // Second cell of the first map: column 1, row 0 -> cx = 1.5 / 18.75 = 0.08, cy = 0.026666…
        let p = Architecture.mb1SSD.priors.centerForm
        XCTAssertEqual(p[6 * 4], 0.08, accuracy: 1e-7)
        XCTAssertEqual(p[6 * 4 + 1], 0.5 / 18.75, accuracy: 1e-7)
        // Cell (column 0, row 1) is 19 cells later: cy = 0.08.
        XCTAssertEqual(p[19 * 6 * 4 + 1], 0.08, accuracy: 1e-7)
        // 10x10 map, shrinkage 32: scale 9.375 (not 10); its first prior starts at 6 * 361 = 2166.
        XCTAssertEqual(p[2166 * 4], 0.5 / 9.375, accuracy: 1e-7)
    }

    func testClampingOfTheLastMap() {
        // VGG last spec (1, 300, 264, 315, [2]): centre 0.5; big square sqrt(264 * 315)/300 = 288.3747/300 = 0.961249;
        // 264/300 * sqrt2 = 1.2445 -> clamped to 1; 0.88 / sqrt2 = 0.622254.
        let p = Architecture.vgg16SSD.priors.centerForm
        let last = Array(p.suffix(16))
        let expected: [Float] = [0.5, 0.5, 0.88, 0.88, 0.5, 0.5, 0.9612492, 0.9612492,
                                 0.5, 0.5, 1.0, 0.6222540, 0.5, 0.5, 0.6222540, 1.0]
        for j in 0..<16 { XCTAssertEqual(last[j], expected[j], accuracy: 1e-6, "coord \(j)") }
    }

    func testAmdegrootAndQfgaohaoPriorsAgreeToRounding() {
        let a = Architecture.ssd300VGG16.priors.centerForm, b = Architecture.vgg16SSD.priors.centerForm
        XCTAssertEqual(a.count, b.count)
        XCTAssertLessThanOrEqual(ParityFixtures.maxAbsDifference(a, b), 1e-7)
    }
}
