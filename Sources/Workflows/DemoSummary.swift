import Foundation
import Quantization
import Evaluation
import VOC

/// `summary.json` of `mpq demo`: `{"map_fp32": x, "map_fp32_ci95": [lo, hi], "runs": [{"method", "wbits", "abits",
/// "avg_bits", "map", "map_ci95", "delta_vs_fp32", "delta_ci95"}], "bootstrap": {"resamples", "seed", "images"},
/// "seconds": x}` (the interval fields and bootstrap are left out with --bootstrap 0).
public struct DemoSummary: Codable, Equatable {
    struct Run: Codable, Equatable {
        let method: String
        let wbits: Int
        let abits: Int
        /// `b · Σ n_c d_c / Σ d_c` over the quantized weights (scales not counted), as measured.
        let avgBits: Double
        let map: Double
        /// `map - map_fp32`.
        var deltaVsFP32: Double? = nil
        var mapCI95: MAPBootstrap.Interval? = nil
        var deltaCI95: MAPBootstrap.Interval? = nil

        enum CodingKeys: String, CodingKey {
            case method, wbits, abits, map
            case avgBits = "avg_bits", deltaVsFP32 = "delta_vs_fp32", mapCI95 = "map_ci95", deltaCI95 = "delta_ci95"
        }
    }

    let mapFP32: Double
    var runs: [Run]
    public let seconds: Double
    var mapFP32CI95: MAPBootstrap.Interval? = nil
    var bootstrap: EvaluationReport.JSON.BootstrapSettings? = nil

    init(mapFP32: Double, runs: [Run], seconds: Double) {
        self.mapFP32 = mapFP32
        self.runs = runs
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case runs, seconds, bootstrap
        case mapFP32 = "map_fp32", mapFP32CI95 = "map_fp32_ci95"
    }

    /// The terminal table: one line per run, mAP in points, its change against float and (with the bootstrap)
    /// both intervals, "n.s." when the change's interval contains 0.
    public func table() -> String {
        let ci = bootstrap != nil
        var s = "method        wbits  abits  avg bits    mAP   vs float"
            + (ci ? "   mAP 95%           vs float 95%" : "") + "\n"
        s += "float            32     32     32.00  " + String(format: "%5.2f", mapFP32 * 100) + "          -"
            + (ci ? "   " + IntervalText.bracket(mapFP32CI95, scale: 100, digits: 2) : "") + "\n"
        for r in runs {
            s += r.method.padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(format: "%7d %6d %9.2f  %5.2f  %+9.2f", r.wbits, r.abits, r.avgBits, r.map * 100,
                         (r.map - mapFP32) * 100)
            if ci {
                let ci = IntervalText.bracket(r.mapCI95, scale: 100, digits: 2)
                s += "   " + ci + String(repeating: " ", count: max(1, 18 - ci.count))
                    + IntervalText.bracket(r.deltaCI95, scale: 100, digits: 2)
                    + ((r.deltaCI95?.containsZero ?? false) ? " n.s." : "")
            }
            s += "\n"
        }
        if let bootstrap {
            s += "95% intervals: paired bootstrap, \(bootstrap.resamples) resamples of the \(bootstrap.images) test "
                + "images (seed \(bootstrap.seed)); n.s. = not significant (the interval contains 0).\n"
        }
        return s
    }

    /// mAP per run (float first) as points with their 95% intervals on an axis fitted to the values (the runs
    /// differ by tenths of a point: bars from 0 would all look equal), float's value as a dashed line.
    func chart() -> String {
        let rows = [("float (fp32)", mapFP32, mapFP32CI95)] + runs.map {
            ("\($0.method) w\($0.wbits)a\($0.abits) (\(String(format: "%.2f", $0.avgBits)) bits)", $0.map, $0.mapCI95)
        }
        let labelW = 260.0, plotW = 500.0, rowH = 26.0, top = 40.0
        let height = top + rowH * Double(rows.count) + 44
        let values = rows.flatMap { r in [100 * r.1] + (r.2.map { [100 * $0.lo, 100 * $0.hi] } ?? []) }
        let step = CompareReport.niceStep(Swift.max((values.max() ?? 100) - (values.min() ?? 0), 0.5))
        let lo = Swift.max(0, (((values.min() ?? 0) - 0.3 * step) / step).rounded(.down) * step)
        let hi = Swift.min(100, (((values.max() ?? 100) + 0.3 * step) / step).rounded(.up) * step)
        func x(_ v: Double) -> Double { labelW + (100 * v - lo) / Swift.max(hi - lo, 1e-9) * plotW }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(labelW + plotW + 90))\" height=\"\(Int(height))\" "
            + "font-family=\"Helvetica, Arial, sans-serif\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
            + "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">mAP on the test images (VOC07 11-point, points)"
            + (mapFP32CI95 != nil ? ", bars: 95% interval" : "") + "</text>"
        var t = lo
        while t <= hi + 1e-9 {
            let px = String(format: "%.1f", x(t / 100))
            s += "<line x1=\"\(px)\" y1=\"\(top - 4)\" x2=\"\(px)\" y2=\"\(height - 38)\" stroke=\"#e2e2e2\"/>"
                + "<text x=\"\(px)\" y=\"\(height - 22)\" font-size=\"12\" text-anchor=\"middle\">"
                + (step < 1 ? String(format: "%.1f", t) : String(format: "%.0f", t)) + "</text>"
            t += step
        }
        let fx = String(format: "%.1f", x(mapFP32))
        s += "<line x1=\"\(fx)\" y1=\"\(top - 4)\" x2=\"\(fx)\" y2=\"\(height - 38)\" stroke=\"#555\" stroke-dasharray=\"6 4\"/>"
        for (i, (label, map, ci)) in rows.enumerated() {
            let y = top + Double(i) * rowH, yc = y + rowH / 2
            let color = i == 0 ? "#555555" : (label.hasPrefix("multipoint") ? "#2ca02c" : "#1f77b4")
            s += "<text x=\"\(labelW - 8)\" y=\"\(y + 17)\" font-size=\"12\" text-anchor=\"end\">"
                + "\(ReportSVG.escape(label))</text>"
            if let ci {  // the 95% interval as a horizontal error bar
                let (x0, x1) = (x(ci.lo), x(ci.hi))
                s += String(format: "<path d=\"M%.1f,%.1f H%.1f M%.1f,%.1f V%.1f M%.1f,%.1f V%.1f\" stroke=\"%@\" "
                    + "stroke-width=\"1.5\" fill=\"none\"/>", x0, yc, x1, x0, yc - 5, yc + 5, x1, yc - 5, yc + 5, color)
            }
            s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%@\"/>", x(map), yc, color)
            s += "<text x=\"\(String(format: "%.1f", labelW + plotW + 10))\" y=\"\(y + 17)\" font-size=\"12\">"
                + "\(String(format: "%.2f", map * 100))</text>"
        }
        return s + "</svg>\n"
    }
}
