import Foundation
import Quantization

/// `summary.json` of `mpq demo`: `{"map_fp32": x, "runs": [{"method", "wbits", "abits", "avg_bits", "map"}],
/// "seconds": x}`.
struct DemoSummary: Codable, Equatable {
    struct Run: Codable, Equatable {
        let method: String
        let wbits: Int
        let abits: Int
        /// `b · Σ n_c d_c / Σ d_c` over the quantized weights (scales not counted), as measured.
        let avgBits: Double
        let map: Double

        enum CodingKeys: String, CodingKey {
            case method, wbits, abits, map
            case avgBits = "avg_bits"
        }
    }

    let mapFP32: Double
    let runs: [Run]
    let seconds: Double

    enum CodingKeys: String, CodingKey {
        case runs, seconds
        case mapFP32 = "map_fp32"
    }

    /// The terminal table: one line per run, mAP in points and its change against float.
    func table() -> String {
        var s = "method        wbits  abits  avg bits    mAP   vs float\n"
        s += "float            32     32     32.00  " + String(format: "%5.2f", mapFP32 * 100) + "          -\n"
        for r in runs {
            s += r.method.padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(format: "%7d %6d %9.2f  %5.2f  %+9.2f\n", r.wbits, r.abits, r.avgBits, r.map * 100,
                         (r.map - mapFP32) * 100)
        }
        return s
    }

    /// A bar chart of mAP per run (float first), hand-written SVG.
    func chart() -> String {
        let rows = [("float (fp32)", mapFP32)] + runs.map {
            ("\($0.method) w\($0.wbits)a\($0.abits) (\(String(format: "%.2f", $0.avgBits)) bits)", $0.map)
        }
        let labelW = 250.0, plotW = 520.0, rowH = 26.0, top = 34.0
        let height = top + rowH * Double(rows.count) + 30
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(labelW + plotW + 80))\" height=\"\(Int(height))\" "
            + "font-family=\"Helvetica, Arial, sans-serif\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
            + "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">mAP on the test images (VOC07 11-point)</text>"
        for k in 0...10 {
            let x = labelW + Double(k) / 10 * plotW
            s += "<line x1=\"\(x)\" y1=\"\(top - 4)\" x2=\"\(x)\" y2=\"\(height - 26)\" stroke=\"#e2e2e2\"/>"
                + "<text x=\"\(x)\" y=\"\(height - 12)\" font-size=\"10\" text-anchor=\"middle\">\(k * 10)</text>"
        }
        for (i, (label, map)) in rows.enumerated() {
            let y = top + Double(i) * rowH
            let color = i == 0 ? "#555555" : (label.hasPrefix("multipoint") ? "#2ca02c" : "#1f77b4")
            s += "<text x=\"\(labelW - 8)\" y=\"\(y + 16)\" font-size=\"12\" text-anchor=\"end\">"
                + "\(ReportSVG.escape(label))</text>"
                + "<rect x=\"\(labelW)\" y=\"\(y + 3)\" width=\"\(String(format: "%.1f", max(0, map) * plotW))\" "
                + "height=\"\(rowH - 8)\" fill=\"\(color)\"/>"
                + "<text x=\"\(String(format: "%.1f", labelW + max(0, map) * plotW + 5))\" y=\"\(y + 16)\" "
                + "font-size=\"12\">\(String(format: "%.2f", map * 100))</text>"
        }
        return s + "</svg>\n"
    }
}
