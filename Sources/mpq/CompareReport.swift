import Foundation
import Quantization
import SSD
import Tensors
import VOC

/// One line of the comparison: a method at a budget (fp32: `budget == nil`).
struct CompareRow: Codable {
    let method: String
    /// The requested `--avg-bits` (nil for the float model).
    let budget: Double?
    /// Point bit width `b = floor(budget)`.
    let pointBits: Int
    let map: Double
    /// Real average weight bits (code bits / weights; scales not counted).
    let averageBits: Double
    let extraMACs: Double
    let modelBytes: Int
    /// Quantization + evaluation wall time.
    let seconds: Double
    /// The 95% paired-bootstrap interval of `map` (nil with --bootstrap 0).
    var mapCI95: MAPBootstrap.Interval? = nil
    /// `map` minus the fp32 row's (quantized rows only) and its interval.
    var deltaVsFP32: Double? = nil
    var deltaCI95: MAPBootstrap.Interval? = nil
    /// `map` minus the rtn row's at the same budget (methods other than rtn, when rtn is compared) and its interval.
    var deltaVsRTN: Double? = nil
    var deltaVsRTNCI95: MAPBootstrap.Interval? = nil
    /// multipoint-random rows: `map` minus the adaptive multipoint row's at the same budget and its interval (the
    /// ablation: negative = adaptivity pays).
    var deltaVsAdaptive: Double? = nil
    var deltaVsAdaptiveCI95: MAPBootstrap.Interval? = nil

    enum CodingKeys: String, CodingKey {
        case method, budget, map, seconds
        case pointBits = "point_bits", averageBits = "average_bits", extraMACs = "extra_macs", modelBytes = "model_bytes"
        case mapCI95 = "map_ci95", deltaVsFP32 = "delta_vs_fp32", deltaCI95 = "delta_ci95"
        case deltaVsRTN = "delta_vs_rtn", deltaVsRTNCI95 = "delta_vs_rtn_ci95"
        case deltaVsAdaptive = "delta_vs_multipoint", deltaVsAdaptiveCI95 = "delta_vs_multipoint_ci95"
    }
}

/// `compare.json`.
struct CompareSummary: Codable {
    let model: String
    let split: String
    let limit: Int?
    let calibImages: Int
    let calibSplit: String
    /// Activation bits of every quantized row (32 = float).
    let abits: Int
    let rows: [CompareRow]
    /// How the intervals were drawn (nil with --bootstrap 0).
    var bootstrap: EvaluationReport.JSON.BootstrapSettings? = nil

    enum CodingKeys: String, CodingKey {
        case model, split, limit, rows, abits, bootstrap
        case calibImages = "calib_images", calibSplit = "calib_split"
    }
}

/// compare.md / compare.svg / compare.html writers.
enum CompareReport {
    /// Fills the interval and difference fields; `boot` holds the rows' models in row order (fp32 first).
    static func addDifferences(_ rows: inout [CompareRow], _ boot: MAPBootstrap?) {
        guard let fp = rows.firstIndex(where: { $0.method == "fp32" }) else { return }
        for r in rows.indices {
            rows[r].mapCI95 = boot?.interval(r)
            guard r != fp else { continue }
            rows[r].deltaVsFP32 = rows[r].map - rows[fp].map
            rows[r].deltaCI95 = boot?.differenceInterval(r, minus: fp)
            // The rtn row with the same DFQ steps (`rtn+cle` for `gptq+cle`).
            let steps = rows[r].method.firstIndex(of: "+").map { String(rows[r].method[$0...]) } ?? ""
            if rows[r].method != "rtn" + steps,
               let rtn = rows.firstIndex(where: { $0.method == "rtn" + steps && $0.budget == rows[r].budget }) {
                rows[r].deltaVsRTN = rows[r].map - rows[rtn].map
                rows[r].deltaVsRTNCI95 = boot?.differenceInterval(r, minus: rtn)
            }
            if rows[r].method == "multipoint-random" + steps,
               let adaptive = rows.firstIndex(where: { $0.method == "multipoint" + steps && $0.budget == rows[r].budget }) {
                rows[r].deltaVsAdaptive = rows[r].map - rows[adaptive].map
                rows[r].deltaVsAdaptiveCI95 = boot?.differenceInterval(r, minus: adaptive)
            }
        }
    }

    /// `-0.0123 [-0.0301, 0.0052] n.s.`, or `-` without a difference.
    static func difference(_ delta: Double?, _ interval: MAPBootstrap.Interval?) -> String {
        guard let delta else { return "-" }
        var s = String(format: "%+.4f", delta)
        if let interval {
            s += " " + IntervalText.bracket(interval) + (interval.containsZero ? " n.s." : "")
        }
        return s
    }

    static func markdownTable(_ rows: [CompareRow]) -> String {
        var s = "| method | budget | point bits | mAP | avg bits | extra MACs | model bytes | time (s) | mAP 95% CI | "
            + "Δ vs fp32 [95% CI] | Δ vs rtn [95% CI] |\n"
        s += "|---|---|---|---|---|---|---|---|---|---|---|\n"
        for r in rows {
            s += "| \(r.method) | \(r.budget.map { String(format: "%.2f", $0) } ?? "-") | \(r.pointBits) | "
                + String(format: "%.4f | %.3f | %.2f%% | %d | %.1f | ", r.map, r.averageBits, 100 * r.extraMACs,
                         r.modelBytes, r.seconds)
                + "\(IntervalText.bracket(r.mapCI95)) | \(difference(r.deltaVsFP32, r.deltaCI95)) | "
                + "\(difference(r.deltaVsRTN, r.deltaVsRTNCI95)) |\n"
        }
        return s
    }

    /// The line under the table saying how the intervals were drawn and what "n.s." means.
    static func intervalNote(_ summary: CompareSummary) -> String {
        var ablation = ""
        for r in summary.rows {
            guard let delta = r.deltaVsAdaptive, let budget = r.budget else { continue }
            ablation += "\nrandom allocation vs adaptive at " + String(format: "%.2f", budget) + ": \(r.method) - "
                + r.method.replacingOccurrences(of: "multipoint-random", with: "multipoint") + " = "
                + difference(delta, r.deltaVsAdaptiveCI95) + "\n"
        }
        guard let b = summary.bootstrap else { return ablation }
        return ablation + "\n95% intervals: paired bootstrap, \(b.resamples) resamples of the \(b.images) scored images "
            + "(seed \(b.seed)); n.s. = not significant, the difference's interval contains 0.\n"
    }

    /// mAP vs average bits, one polyline per method (fp32 as a dashed line).
    static func svg(_ rows: [CompareRow]) -> String {
        let w = 640.0, h = 400.0, left = 60.0, right = 140.0, top = 20.0, bottom = 50.0
        let quantized = rows.filter { $0.budget != nil }
        let xs = quantized.map(\.averageBits), maps = rows.map(\.map)
        let x0 = (xs.min() ?? 2).rounded(.down), x1 = Swift.max((xs.max() ?? 8).rounded(.up), x0 + 1)
        let y0 = 0.0, y1 = Swift.max((maps + rows.compactMap { $0.mapCI95?.hi }).max() ?? 1, 0.01)
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * (w - left - right) }
        func py(_ y: Double) -> Double { h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom) }
        let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", left, py(y0), w - right, py(y0))
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", left, py(y0), left, py(y1))
        for i in 0...4 {
            let y = y0 + (y1 - y0) * Double(i) / 4
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>\n", left - 4, py(y) + 4, y)
        }
        var x = x0
        while x <= x1 + 1e-9 {
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.1f</text>\n", px(x), h - bottom + 16, x)
            x += 0.5
        }
        s += "<text x=\"\(Int((w - right + left) / 2))\" y=\"\(Int(h - 10))\" text-anchor=\"middle\">average weight bits</text>\n"
        s += "<text x=\"14\" y=\"\(Int(h / 2))\" transform=\"rotate(-90 14 \(Int(h / 2)))\" text-anchor=\"middle\">mAP</text>\n"
        if let fp = rows.first(where: { $0.method == "fp32" }) {
            if let ci = fp.mapCI95 {  // the float model's 95% interval as a band
                s += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"gray\" "
                    + "fill-opacity=\"0.15\"/>\n", left, py(ci.hi), w - right - left, Swift.max(0, py(ci.lo) - py(ci.hi)))
            }
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"gray\" stroke-dasharray=\"4 3\"/>\n",
                        left, py(fp.map), w - right, py(fp.map))
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"gray\">fp32</text>\n", w - right + 4, py(fp.map) + 4)
        }
        var methods: [String] = []
        for r in quantized where !methods.contains(r.method) { methods.append(r.method) }
        for (i, m) in methods.enumerated() {
            let color = colors[i % colors.count]
            let points = quantized.filter { $0.method == m }.sorted { $0.averageBits < $1.averageBits }
            let path = points.map { String(format: "%.1f,%.1f", px($0.averageBits), py($0.map)) }.joined(separator: " ")
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            for p in points {
                if let ci = p.mapCI95 {  // the 95% interval as an error bar
                    let x = px(p.averageBits)
                    s += String(format: "<path d=\"M%.1f,%.1f V%.1f M%.1f,%.1f H%.1f M%.1f,%.1f H%.1f\" stroke=\"%@\" "
                        + "stroke-width=\"1\" fill=\"none\"/>\n", x, py(ci.lo), py(ci.hi), x - 3, py(ci.lo), x + 3,
                        x - 3, py(ci.hi), x + 3, color)
                }
                s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%@\"/>\n", px(p.averageBits), py(p.map), color)
            }
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"%@\">%@</text>\n", w - right + 20, top + 16 * Double(i + 2), color, m)
        }
        if rows.contains(where: { $0.mapCI95 != nil }) {
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"gray\" font-size=\"10\">bars, band: 95%% CI</text>\n",
                        w - right + 20, top + 16 * Double(methods.count + 3))
        }
        return s + "</svg>\n"
    }

    static func html(_ summary: CompareSummary, figures: String = "") -> String {
        var rowsHTML = ""
        for r in summary.rows {
            rowsHTML += "<tr><td>\(r.method)</td><td>\(r.budget.map { String(format: "%.2f", $0) } ?? "-")</td><td>\(r.pointBits)</td>"
                + String(format: "<td>%.4f</td><td>%.3f</td><td>%.2f%%</td><td>%d</td><td>%.1f</td>",
                         r.map, r.averageBits, 100 * r.extraMACs, r.modelBytes, r.seconds)
                + "<td>\(IntervalText.bracket(r.mapCI95))</td><td>\(difference(r.deltaVsFP32, r.deltaCI95))</td>"
                + "<td>\(difference(r.deltaVsRTN, r.deltaVsRTNCI95))</td></tr>\n"
        }
        let title = "mpq compare: \(escape(summary.model)) on \(escape(summary.split))"
        return """
        <!DOCTYPE html><html><head><meta charset="utf-8"><title>\(title)</title>
        <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style>
        </head><body><h1>\(title)</h1>
        <p>Calibration: \(summary.calibImages) images of \(escape(summary.calibSplit)); scored images: \(summary.limit.map(String.init) ?? "all").
        Activations: \(summary.abits == 32 ? "float" : "\(summary.abits) bits") (the fp32 row is float). rtn, mse and gptq use b = floor(budget) bits for every weight (below the budget); multipoint, ocs and mixed spend the budget.</p>
        \(svg(summary.rows))
        <table><tr><th>method</th><th>budget</th><th>point bits</th><th>mAP</th><th>avg bits</th><th>extra MACs</th><th>model bytes</th><th>time (s)</th><th>mAP 95% CI</th><th>Δ vs fp32 [95% CI]</th><th>Δ vs rtn [95% CI]</th></tr>
        \(rowsHTML)</table><p>\(escape(intervalNote(summary)))</p>\(figures)</body></html>

        """
    }

    static func write(_ summary: CompareSummary, to folder: URL, figures: String = "") throws {
        try Output.writeJSON(summary, to: folder.appendingPathComponent("compare.json").path)
        let md = "# mpq compare\n\nModel \(summary.model), split \(summary.split)"
            + (summary.limit.map { " (first \($0) images)" } ?? "") + ", calibration \(summary.calibImages) images of "
            + "\(summary.calibSplit), activations \(summary.abits == 32 ? "float" : "\(summary.abits) bits"). "
            + "rtn/mse/gptq: b = floor(budget) bits (below the budget).\n\n"
            + markdownTable(summary.rows) + intervalNote(summary)
        try Data(md.utf8).write(to: folder.appendingPathComponent("compare.md"), options: .atomic)
        try Data(svg(summary.rows).utf8).write(to: folder.appendingPathComponent("compare.svg"), options: .atomic)
        try Data(html(summary, figures: figures).utf8).write(to: folder.appendingPathComponent("compare.html"), options: .atomic)
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
