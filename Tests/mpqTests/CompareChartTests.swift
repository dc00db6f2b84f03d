import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import mpq
@testable import Workflows

/// The compare chart's geometry: axes fitted to the data, float as a reference line, legend outside the plot,
/// the model's file name as the title.
final class CompareChartTests: XCTestCase {
    private func row(_ method: String, _ budget: Double?, _ bits: Double, _ map: Double) -> CompareRow {
        CompareRow(method: method, budget: budget, pointBits: budget.map { Int($0) } ?? 32, map: map,
                   averageBits: bits, extraMACs: 0, modelBytes: 1, seconds: 0)
    }

    func testAxesFitTheDataAndLegendSitsOutsideThePlot() throws {
        let rows = [row("fp32", nil, 32, 0.8944), row("rtn", 3.25, 3, 0.861), row("rtn", 4.25, 4, 0.8912),
                    row("multipoint", 3.25, 3.25, 0.8801), row("multipoint", 8.25, 8.25, 0.8950)]
        let summary = CompareSummary(model: "/very/long/absolute/path/mb2-demo.pth", split: "test", limit: 100,
                                     calibImages: 8, calibSplit: "trainval", abits: 8, rows: rows)
        let svg = CompareReport.svg(summary)
        XCTAssertTrue(XMLParser(data: Data(svg.utf8)).parse())
        XCTAssertTrue(svg.contains(">mb2-demo.pth</text>"), "title is the file name")
        XCTAssertFalse(svg.contains("/very/long"), "no absolute path")
        // y ticks: mAP points between 86.1 and 89.5, step 1 (span 3.4 / 5 → 1): 85 … 90, never 0.
        let yTicks = try ticks(svg, anchor: "end")
        XCTAssertEqual(yTicks.first, 85)
        XCTAssertEqual(yTicks.last, 90)
        XCTAssertFalse(yTicks.contains(0))
        // x: from 3 to 9 (the largest budget 8.25, rounded up), step 1.
        let xTicks = try ticks(svg, anchor: "middle").filter { $0 < 20 }
        XCTAssertEqual(xTicks, [3, 4, 5, 6, 7, 8, 9])
        // The plot ends at x = 720 - 170; legend entries (fp32 first, with its value) start right of it.
        let legend = try XCTUnwrap(svg.range(of: ">fp32 89.44</text>"))
        let line = svg[..<legend.lowerBound].components(separatedBy: "<text x=\"").last ?? ""
        XCTAssertGreaterThan(Double(line.prefix { $0 != "\"" }) ?? 0, 550)
        XCTAssertTrue(svg.contains("stroke-dasharray=\"6 4\""), "fp32 reference line")
    }

    func testNiceSteps() {
        XCTAssertEqual(CompareReport.niceStep(3.4), 1)
        XCTAssertEqual(CompareReport.niceStep(0.5), 0.1)
        XCTAssertEqual(CompareReport.niceStep(40), 10)
        XCTAssertEqual(CompareReport.niceStep(7), 2)
    }

    /// The numbers of `<text … text-anchor="ANCHOR">N</text>` labels, in order.
    private func ticks(_ svg: String, anchor: String) throws -> [Double] {
        let pattern = try NSRegularExpression(pattern: "text-anchor=\"\(anchor)\">([0-9.]+)</text>")
        let ns = svg as NSString
        return pattern.matches(in: svg, range: NSRange(location: 0, length: ns.length)).compactMap {
            Double(ns.substring(with: $0.range(at: 1)))
        }
    }
}

/// The demo's chart: points with intervals on an axis fitted to the values (README's numbers).
final class DemoChartTests: XCTestCase {
    func testDemoChartAxisFitsTheValues() throws {
        func run(_ method: String, _ bits: Double, _ map: Double, _ lo: Double, _ hi: Double) -> DemoSummary.Run {
            var r = DemoSummary.Run(method: method, wbits: 4, abits: 8, avgBits: bits, map: map)
            r.mapCI95 = .init(lo: lo, hi: hi)
            return r
        }
        var summary = DemoSummary(mapFP32: 0.8944, runs: [run("rtn", 4, 0.8912, 0.874, 0.906),
                                                          run("multipoint", 4.25, 0.8960, 0.876, 0.912)], seconds: 1)
        summary.mapFP32CI95 = .init(lo: 0.8797, hi: 0.9122)
        let svg = summary.chart()
        XCTAssertTrue(XMLParser(data: Data(svg.utf8)).parse())
        if let dir = ProcessInfo.processInfo.environment["MPQ_CHART_DIR"] {   // to look at it: rsvg-convert
            try Data(svg.utf8).write(to: URL(fileURLWithPath: dir).appendingPathComponent("demo-chart.svg"))
        }
        // Values 87.4 … 91.2 (span 3.8, step 1): ticks 87 … 92, not 0 … 100.
        let re = try NSRegularExpression(pattern: "text-anchor=\"middle\">([0-9.]+)</text>")
        let ns = svg as NSString
        let ticks = re.matches(in: svg, range: NSRange(location: 0, length: ns.length)).compactMap {
            Double(ns.substring(with: $0.range(at: 1)))
        }
        XCTAssertEqual(ticks, [87, 88, 89, 90, 91, 92])
        XCTAssertTrue(svg.contains(">89.60</text>") && svg.contains(">89.44</text>"))
    }
}
