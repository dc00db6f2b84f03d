import Foundation

/// Hand-written SVG charts of a sensitivity report (no dependencies; every chart is a self-contained `<svg>`
/// that can be saved as a file or inlined in HTML).
public enum ReportSVG {
    /// Escapes text for XML content and attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(ch)
            }
        }
        return out
    }

    static func fmt(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", x) }

    /// A distinct colour per bit width (low bits warm, high bits cool).
    static func color(forBits bits: Int) -> String {
        let palette = [2: "#d62728", 3: "#ff7f0e", 4: "#2ca02c", 5: "#17becf", 6: "#1f77b4", 7: "#9467bd", 8: "#7f7f7f"]
        return palette[bits] ?? "#444444"
    }

    /// At most this many layers in the bar chart (the most sensitive ones); the heat map shows every layer.
    public static let barChartLayers = 40

    /// Horizontal grouped bars, one row per layer in `SensitivityReport.ranked` order (most sensitive first, at
    /// most `barChartLayers` rows), one bar per bit width, length = mAP drop in points (×100).
    /// Negative drops (the layer's quantization happened to help) extend left of the axis.
    public static func mapDropBars(_ report: SensitivityReport) -> String {
        let bits = report.layers.first?.results.map(\.bits) ?? []
        let shown = Array(report.ranked.prefix(barChartLayers))
        let barH = 7.0, rowGap = 6.0
        let rowH = max(barH * Double(max(bits.count, 1)) + rowGap, 16)
        let labelW = 250.0, plotW = 560.0, top = 64.0, bottom = 44.0
        let height = top + rowH * Double(shown.count) + bottom
        let drops = shown.flatMap { $0.results.map { $0.mapDrop * 100 } }
        let lo = min(0, drops.min() ?? 0), hi = max(drops.max() ?? 0, lo + 1e-9, 0.5)
        func x(_ v: Double) -> Double { labelW + (v - lo) / (hi - lo) * plotW }
        var s = svgHeader(width: labelW + plotW + 40, height: height)
        s += text(x: 10, y: 22, "mAP drop when only that layer is quantized (points; float mAP "
                  + fmt(report.mapFP32 * 100, 1) + ")", size: 15, weight: "bold")
        let scope = shown.count < report.layers.count
            ? "the \(shown.count) most sensitive of \(report.layers.count) layers, ranked by their largest drop"
            : "all \(report.layers.count) layers, ranked by their largest drop"
        s += text(x: 10, y: 40, scope, size: 12)
        // Legend.
        var lx = labelW
        for b in bits {
            s += "<rect x=\"\(fmt(lx, 1))\" y=\"47\" width=\"14\" height=\"11\" fill=\"\(color(forBits: b))\"/>"
            s += text(x: lx + 18, y: 57, "\(b) bits", size: 12)
            lx += 80
        }
        // Grid lines and axis ticks.
        let ticks = niceTicks(lo: lo, hi: hi)
        for t in ticks {
            s += "<line x1=\"\(fmt(x(t), 1))\" y1=\"\(fmt(top - 2, 1))\" x2=\"\(fmt(x(t), 1))\" "
                + "y2=\"\(fmt(height - bottom, 1))\" stroke=\"\(t == 0 ? "#000" : "#ddd")\" stroke-width=\"1\"/>"
            s += text(x: x(t), y: height - bottom + 16, fmt(t, t.magnitude < 10 ? 1 : 0), size: 12, anchor: "middle")
        }
        s += text(x: labelW + plotW / 2, y: height - 8, "mAP drop (points; higher = more sensitive)", size: 12,
                  anchor: "middle")
        for (i, layer) in shown.enumerated() {
            let y0 = top + Double(i) * rowH
            s += text(x: labelW - 8, y: y0 + rowH / 2 + 4, layer.name, size: 12, anchor: "end")
            let inner = barH * Double(layer.results.count)
            for (k, r) in layer.results.enumerated() {
                let v = r.mapDrop * 100
                let x0 = min(x(0), x(v)), w = max(abs(x(v) - x(0)), 0.5)
                let y = y0 + (rowH - inner) / 2 + Double(k) * barH
                s += "<rect x=\"\(fmt(x0, 1))\" y=\"\(fmt(y, 1))\" width=\"\(fmt(w, 1))\" "
                    + "height=\"\(fmt(barH - 1, 1))\" fill=\"\(color(forBits: r.bits))\">"
                    + "<title>\(escape(layer.name)) @ \(r.bits) bits: drop \(fmt(v, 2)) points</title></rect>"
            }
        }
        return s + "</svg>\n"
    }

    /// Heat map: rows = layers (execution order), columns = bit widths, cell colour = mAP drop (white = none,
    /// dark red = the largest drop; blue = mAP rose), with the value printed in each cell.
    public static func heatMap(_ report: SensitivityReport) -> String {
        let bits = report.layers.first?.results.map(\.bits) ?? []
        let labelW = 250.0, cellW = 76.0, cellH = 20.0, top = 56.0
        let height = top + cellH * Double(report.layers.count) + 20
        let width = labelW + cellW * Double(max(bits.count, 1)) + 20
        let maxDrop = max(report.layers.flatMap { $0.results.map(\.mapDrop) }.max() ?? 0, 1e-9)
        let minDrop = min(report.layers.flatMap { $0.results.map(\.mapDrop) }.min() ?? 0, 0)
        var s = svgHeader(width: max(width, 600), height: height)
        s += text(x: 10, y: 22, "mAP drop (points): layer × weight bits, execution order", size: 15, weight: "bold")
        for (k, b) in bits.enumerated() {
            s += text(x: labelW + (Double(k) + 0.5) * cellW, y: top - 10, "\(b) bits", size: 12, anchor: "middle")
        }
        for (i, layer) in report.layers.enumerated() {
            let y0 = top + Double(i) * cellH
            s += text(x: labelW - 8, y: y0 + cellH - 5, layer.name, size: 12, anchor: "end")
            for (k, r) in layer.results.enumerated() {
                let fill: String
                if r.mapDrop >= 0 {
                    let t = min(1, r.mapDrop / maxDrop)
                    fill = rgb(255, 255 - 200 * t, 255 - 215 * t)
                } else {
                    let t = minDrop < 0 ? min(1, r.mapDrop / minDrop) : 0
                    fill = rgb(255 - 180 * t, 255 - 120 * t, 255)
                }
                let x0 = labelW + Double(k) * cellW
                s += "<rect x=\"\(fmt(x0, 1))\" y=\"\(fmt(y0, 1))\" width=\"\(fmt(cellW, 1))\" height=\"\(fmt(cellH, 1))\" "
                    + "fill=\"\(fill)\" stroke=\"#fff\"><title>\(escape(layer.name)) @ \(r.bits) bits: mAP "
                    + "\(fmt(r.map * 100, 2)), drop \(fmt(r.mapDrop * 100, 2)), SQNR "
                    + "\(r.sqnrDB.map { fmt($0, 1) + " dB" } ?? "inf")</title></rect>"
                s += text(x: x0 + cellW / 2, y: y0 + cellH - 5, fmt(r.mapDrop * 100, 2), size: 12, anchor: "middle")
            }
        }
        return s + "</svg>\n"
    }

    static func rgb(_ r: Double, _ g: Double, _ b: Double) -> String {
        String(format: "#%02x%02x%02x", Int(r.rounded()), Int(g.rounded()), Int(b.rounded()))
    }

    static func svgHeader(width: Double, height: Double) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(fmt(width, 0))\" height=\"\(fmt(height, 0))\" "
            + "viewBox=\"0 0 \(fmt(width, 0)) \(fmt(height, 0))\" font-family=\"Helvetica, Arial, sans-serif\">"
            + "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
    }

    static func text(x: Double, y: Double, _ content: String, size: Int, anchor: String = "start",
                     weight: String = "normal") -> String {
        "<text x=\"\(fmt(x, 1))\" y=\"\(fmt(y, 1))\" font-size=\"\(size)\" text-anchor=\"\(anchor)\" "
            + "font-weight=\"\(weight)\">\(escape(content))</text>"
    }

    /// About five round tick values covering `lo…hi` (always including 0 when inside).
    static func niceTicks(lo: Double, hi: Double) -> [Double] {
        let span = max(hi - lo, 1e-9)
        let raw = span / 5
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var t = (lo / step).rounded(.down) * step
        var out: [Double] = []
        while t <= hi + step * 1e-6 {
            if t >= lo - step * 1e-6 { out.append(abs(t) < step * 1e-6 ? 0 : t) }
            t += step
        }
        return out
    }
}
