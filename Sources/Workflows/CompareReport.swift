import Foundation
import Quantization
import SSD
import Tensors
import Evaluation
import VOC
import SafeIO

/// One line of the comparison: a method at a budget (fp32: `budget == nil`).
public struct CompareRow: Codable {
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

    /// `avg_bits`, the name every other command's JSON uses for the same number; `average_bits` stays for readers
    /// of older reports.
    private enum AliasKeys: String, CodingKey { case avgBits = "avg_bits" }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(method, forKey: .method)
        try c.encodeIfPresent(budget, forKey: .budget)
        try c.encode(pointBits, forKey: .pointBits)
        try c.encode(map, forKey: .map)
        try c.encode(averageBits, forKey: .averageBits)
        try c.encode(extraMACs, forKey: .extraMACs)
        try c.encode(modelBytes, forKey: .modelBytes)
        try c.encode(seconds, forKey: .seconds)
        try c.encodeIfPresent(mapCI95, forKey: .mapCI95)
        try c.encodeIfPresent(deltaVsFP32, forKey: .deltaVsFP32)
        try c.encodeIfPresent(deltaCI95, forKey: .deltaCI95)
        try c.encodeIfPresent(deltaVsRTN, forKey: .deltaVsRTN)
        try c.encodeIfPresent(deltaVsRTNCI95, forKey: .deltaVsRTNCI95)
        try c.encodeIfPresent(deltaVsAdaptive, forKey: .deltaVsAdaptive)
        try c.encodeIfPresent(deltaVsAdaptiveCI95, forKey: .deltaVsAdaptiveCI95)
        var alias = encoder.container(keyedBy: AliasKeys.self)
        try alias.encode(averageBits, forKey: .avgBits)
    }
}

/// `compare.json`.
public struct CompareSummary: Codable {
    let model: String
    let split: String
    let limit: Int?
    let calibImages: Int
    let calibSplit: String
    /// Activation bits of every quantized row (32 = float).
    let abits: Int
    public let rows: [CompareRow]
    /// How the intervals were drawn (nil with --bootstrap 0).
    var bootstrap: EvaluationReport.JSON.BootstrapSettings? = nil

    enum CodingKeys: String, CodingKey {
        case model, split, limit, rows, abits, bootstrap
        case calibImages = "calib_images", calibSplit = "calib_split"
    }
}

/// compare.md / compare.svg / compare.html writers.
public enum CompareReport {
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

    public static func markdownTable(_ rows: [CompareRow]) -> String {
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
    public static func intervalNote(_ summary: CompareSummary) -> String {
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

    /// A tick step of 1, 2 or 5 × 10^k giving about `count` intervals over `span`.
    static func niceStep(_ span: Double, count: Double = 5) -> Double {
        let raw = Swift.max(span, 1e-9) / count
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        for m in [1.0, 2.0, 5.0, 10.0] where m * magnitude >= raw { return m * magnitude }
        return 10 * magnitude
    }

    /// mAP (in points) vs average weight bits, one line per method with 95% error bars; fp32 as a dashed
    /// reference line with its interval as a band. Axes fitted to the data (y to the points and intervals, x up
    /// to the largest budget), legend to the right of the plot, titled by the model's file name.
    static func svg(_ summary: CompareSummary) -> String {
        let rows = summary.rows
        let w = 720.0, h = 440.0, left = 64.0, right = 170.0, top = 44.0, bottom = 52.0
        let quantized = rows.filter { $0.budget != nil }
        let xs = quantized.map(\.averageBits) + quantized.compactMap(\.budget)
        let x0 = (xs.min() ?? 2).rounded(.down), x1 = Swift.max((xs.max() ?? 8).rounded(.up), x0 + 1)
        let ys = rows.flatMap { [100 * $0.map] + ($0.mapCI95.map { [100 * $0.lo, 100 * $0.hi] } ?? []) }
        let yMin = ys.min() ?? 0, yMax = ys.max() ?? 100
        let yStep = niceStep(Swift.max(yMax - yMin, 0.5))
        let y0 = Swift.max(0, ((yMin - 0.3 * yStep) / yStep).rounded(.down) * yStep)
        let y1 = Swift.min(100, ((yMax + 0.3 * yStep) / yStep).rounded(.up) * yStep)
        // A quarter bit of room at both ends so that no point sits on an axis.
        func px(_ x: Double) -> Double { left + (x - x0 + 0.25) / (x1 - x0 + 0.5) * (w - left - right) }
        func py(_ y: Double) -> Double { h - bottom - (100 * y - y0) / (y1 - y0) * (h - top - bottom) }
        func pyPoints(_ v: Double) -> Double { py(v / 100) }
        let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
        let name = URL(fileURLWithPath: summary.model).lastPathComponent
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" "
            + "font-family=\"sans-serif\" font-size=\"13\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(Int(left))\" y=\"24\" font-size=\"16\" font-weight=\"bold\">\(escape(name))</text>\n"
        s += "<text x=\"\(Int(w - right))\" y=\"24\" text-anchor=\"end\" fill=\"#555\">mAP on \(escape(summary.split))"
            + (summary.limit.map { " (first \($0) images)" } ?? "") + "</text>\n"
        // Grid and y ticks (mAP points).
        var y = y0
        while y <= y1 + 1e-9 {
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n",
                        left, pyPoints(y), w - right, pyPoints(y))
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%@</text>\n", left - 6,
                        pyPoints(y) + 4, yStep < 1 ? String(format: "%.1f", y) : String(format: "%.0f", y))
            y += yStep
        }
        let xStep = x1 - x0 > 4 ? 1.0 : 0.5
        var x = x0
        while x <= x1 + 1e-9 {
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>\n", px(x),
                        h - bottom + 18, xStep < 1 ? String(format: "%.1f", x) : String(format: "%.0f", x))
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                        px(x), h - bottom, px(x), h - bottom + 4)
            x += xStep
        }
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", left, h - bottom, w - right, h - bottom)
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", left, h - bottom, left, top)
        s += "<text x=\"\(Int((w - right + left) / 2))\" y=\"\(Int(h - 12))\" text-anchor=\"middle\">average weight bits</text>\n"
        s += "<text x=\"16\" y=\"\(Int((h - bottom + top) / 2))\" transform=\"rotate(-90 16 \(Int((h - bottom + top) / 2)))\" "
            + "text-anchor=\"middle\">VOC07 mAP (points)</text>\n"
        var legend: [(label: String, color: String, dashed: Bool)] = []
        if let fp = rows.first(where: { $0.method == "fp32" }) {
            if let ci = fp.mapCI95 {  // the float model's 95% interval as a band
                s += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"gray\" "
                    + "fill-opacity=\"0.15\"/>\n", left, py(ci.hi), w - right - left, Swift.max(0, py(ci.lo) - py(ci.hi)))
            }
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
                + "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n", left, py(fp.map), w - right, py(fp.map))
            legend.append((String(format: "fp32 %.2f", 100 * fp.map), "#555", true))
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
            legend.append((m, color, false))
        }
        // Legend in the right margin, outside the plot.
        let lx = w - right + 16
        for (i, item) in legend.enumerated() {
            let ly = top + 8 + 20 * Double(i)
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"2\"%@/>\n",
                        lx, ly, lx + 22, ly, item.color, item.dashed ? " stroke-dasharray=\"6 4\"" : "")
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>\n", lx + 28, ly + 4, escape(item.label))
        }
        if rows.contains(where: { $0.mapCI95 != nil }) {
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555\" font-size=\"11\">bars, band: 95%% CI</text>\n",
                        lx, top + 8 + 20 * Double(legend.count) + 6)
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
        \(svg(summary))
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
        try AtomicFile.write(md, to: folder.appendingPathComponent("compare.md"))
        try AtomicFile.write(svg(summary), to: folder.appendingPathComponent("compare.svg"))
        try AtomicFile.write(html(summary, figures: figures), to: folder.appendingPathComponent("compare.html"))
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
