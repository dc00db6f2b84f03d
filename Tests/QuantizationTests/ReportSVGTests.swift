import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Quantization

/// The sensitivity charts: ranked bars of a readable size, heat-map text of at least 11 px.
final class ReportSVGTests: XCTestCase {
    private func report(layers: Int) -> SensitivityReport {
        SensitivityReport(layers: (0..<layers).map { i in
            // Layer i's worst drop is (i * 7) % layers hundredths: a known, scrambled ranking.
            let drop = Double((i * 7) % layers) / 100
            return LayerSensitivity(name: "layer\(i)", params: 10, macs: 100, results: [
                SensitivityResult(bits: 2, map: 0.9 - drop, mapDrop: drop, sqnrDB: 10),
                SensitivityResult(bits: 4, map: 0.9, mapDrop: drop / 4, sqnrDB: 20),
            ])
        }, mapFP32: 0.9)
    }

    func testBarChartIsRankedAndCapped() throws {
        let r = report(layers: 50)
        let svg = ReportSVG.mapDropBars(r)
        XCTAssertTrue(XMLParser(data: Data(svg.utf8)).parse())
        // The labels in drawing order are the ranked layers, at most `barChartLayers` of them.
        let names = try labels(svg, prefix: "layer")
        XCTAssertEqual(names, r.ranked.prefix(ReportSVG.barChartLayers).map(\.name))
        XCTAssertEqual(names.first, "layer7", "drop 0.49, the largest")
        XCTAssertTrue(svg.contains("the 40 most sensitive of 50 layers"))
        XCTAssertGreaterThanOrEqual(try fontSizes(svg).min() ?? 0, 11)
    }

    func testHeatMapTextIsReadable() throws {
        let svg = ReportSVG.heatMap(report(layers: 12))
        XCTAssertTrue(XMLParser(data: Data(svg.utf8)).parse())
        XCTAssertGreaterThanOrEqual(try fontSizes(svg).min() ?? 0, 11)
        XCTAssertEqual(try labels(svg, prefix: "layer"), (0..<12).map { "layer\($0)" }, "execution order")
    }

    private func matches(_ svg: String, _ pattern: String) throws -> [String] {
        let re = try NSRegularExpression(pattern: pattern)
        let ns = svg as NSString
        return re.matches(in: svg, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range(at: 1)) }
    }

    private func fontSizes(_ svg: String) throws -> [Int] { try matches(svg, "font-size=\"([0-9]+)\"").compactMap { Int($0) } }

    private func labels(_ svg: String, prefix: String) throws -> [String] { try matches(svg, ">(\(prefix)[0-9]+)</text>") }
}
