import Foundation
import Quantization
import Evaluation
import VOC

/// `summary.json` of `mpq demo`: `{"map_fp32": x, "map_fp32_ci95": [lo, hi], "runs": [{"method", "wbits", "abits",
/// "avg_bits", "map", "map_ci95", "delta_vs_fp32", "delta_ci95"}], "bootstrap": {"resamples", "seed", "images"},
/// "seconds": x}` (the interval fields and bootstrap are left out with --bootstrap 0).
struct DemoSummary: Codable, Equatable {
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
    let seconds: Double
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
    func table() -> String {
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

    /// A bar chart of mAP per run (float first), hand-written SVG.
    func chart() -> String {
        let rows = [("float (fp32)", mapFP32, mapFP32CI95)] + runs.map {
            ("\($0.method) w\($0.wbits)a\($0.abits) (\(String(format: "%.2f", $0.avgBits)) bits)", $0.map, $0.mapCI95)
        }
        let labelW = 250.0, plotW = 520.0, rowH = 26.0, top = 34.0
        let height = top + rowH * Double(rows.count) + 30
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(labelW + plotW + 80))\" height=\"\(Int(height))\" "
            + "font-family=\"Helvetica, Arial, sans-serif\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
            + "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">mAP on the test images (VOC07 11-point)"
            + (mapFP32CI95 != nil ? ", error bars: 95% interval" : "") + "</text>"
        for k in 0...10 {
            let x = labelW + Double(k) / 10 * plotW
            s += "<line x1=\"\(x)\" y1=\"\(top - 4)\" x2=\"\(x)\" y2=\"\(height - 26)\" stroke=\"#e2e2e2\"/>"
                + "<text x=\"\(x)\" y=\"\(height - 12)\" font-size=\"10\" text-anchor=\"middle\">\(k * 10)</text>"
        }
        for (i, (label, map, ci)) in rows.enumerated() {
            let y = top + Double(i) * rowH
            let color = i == 0 ? "#555555" : (label.hasPrefix("multipoint") ? "#2ca02c" : "#1f77b4")
            s += "<text x=\"\(labelW - 8)\" y=\"\(y + 16)\" font-size=\"12\" text-anchor=\"end\">"
                + "\(ReportSVG.escape(label))</text>"
                + "<rect x=\"\(labelW)\" y=\"\(y + 3)\" width=\"\(String(format: "%.1f", max(0, map) * plotW))\" "
                + "height=\"\(rowH - 8)\" fill=\"\(color)\"/>"
                + "<text x=\"\(String(format: "%.1f", labelW + max(0, map, ci?.hi ?? 0) * plotW + 5))\" y=\"\(y + 16)\" "
                + "font-size=\"12\">\(String(format: "%.2f", map * 100))</text>"
            if let ci {  // the 95% interval as an error bar across the bar's end
                let (x0, x1, yc) = (labelW + max(0, ci.lo) * plotW, labelW + max(0, ci.hi) * plotW, y + rowH / 2 - 1)
                s += String(format: "<path d=\"M%.1f,%.1f H%.1f M%.1f,%.1f V%.1f M%.1f,%.1f V%.1f\" stroke=\"#222\" "
                    + "fill=\"none\"/>", x0, yc, x1, x0, yc - 4, yc + 4, x1, yc - 4, yc + 4)
            }
        }
        return s + "</svg>\n"
    }
}
