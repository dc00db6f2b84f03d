import Foundation
import SSD

/// One layer's relative output error `Σ_c e_c / Σ_c E_c` on the calibration data for RTN, MSE clipping and
/// multipoint with `n = 1 … maxPoints` points in every channel (`multipoint[n-1]`; one point is RTN's).
public struct LayerErrorCurve: Sendable, Codable, Equatable {
    public let name: String
    public let rtn: Double
    public let mse: Double
    public let multipoint: [Double]
}

/// The two pictures of multipoint's argument (compare's report, `quantize --report`): how fast a layer's output
/// error falls with the number of points, and how the adaptive allocation spreads points over channels.
public enum AllocationFigures {
    /// The curves of every layer of `model` (all but `skip`) at `bits`-bit points.
    /// - Throws: `QuantizationError.missingCalibration` without Gram matrices.
    public static func errorCurves(model: SSDModel, statistics: CalibrationStatistics, bits: Int, maxPoints: Int = 4,
                                   skip: [String] = [],
                                   threads: Int = defaultQuantizationThreads) throws -> [LayerErrorCurve] {
        let grid = try QuantGrid(bits: bits)
        let (selected, _) = try LayerSelection.split(model.quantizableLayers, skipping: skip)
        guard let views = try ModelQuantizer.allocationLayers(selected, statistics: statistics) else {
            throw QuantizationError.missingCalibration("Gram matrices (error vs points)")
        }
        return try views.map { v in
            func error(_ method: WeightMethod) throws -> Double {
                let q = try WeightQuantizer.quantize(weights: v.weights, channels: v.channels, dimension: v.dimension,
                                                     grid: grid, method: method, threads: threads)
                return OutputError.relative(v, q, threads: threads)
            }
            return LayerErrorCurve(name: v.name, rtn: try error(.rtn), mse: try error(.mse),
                                   multipoint: try (1...Swift.max(maxPoints, 1)).map { try error(.multipoint(points: $0)) })
        }
    }

    /// Line chart: x = points per channel, y = relative output error (log scale). The multipoint line is the
    /// median over layers with the band from the 25th to the 75th percentile; RTN and MSE (one point, they cannot
    /// add any) are dashed horizontal lines at their medians.
    public static func errorVersusPointsSVG(_ curves: [LayerErrorCurve], bits: Int) -> String {
        let w = 720.0, h = 440.0, left = 80.0, right = 170.0, top = 56.0, bottom = 56.0
        let n = curves.map(\.multipoint.count).max() ?? 1
        func quantile(_ values: [Double], _ p: Double) -> Double {
            let v = values.filter { $0 > 0 && $0.isFinite }.sorted()
            guard !v.isEmpty else { return 0 }
            let x = p * Double(v.count - 1), i = Int(x.rounded(.down)), f = x - Double(i)
            return i + 1 < v.count ? v[i] * (1 - f) + v[i + 1] * f : v[i]
        }
        let column: (Int) -> [Double] = { k in curves.compactMap { k < $0.multipoint.count ? $0.multipoint[k] : nil } }
        let median = (0..<n).map { quantile(column($0), 0.5) }
        let low = (0..<n).map { quantile(column($0), 0.25) }, high = (0..<n).map { quantile(column($0), 0.75) }
        let rtn = quantile(curves.map(\.rtn), 0.5), mse = quantile(curves.map(\.mse), 0.5)
        let positives = (median + low + high + [rtn, mse]).filter { $0 > 0 }
        let yLo = Foundation.floor(Foundation.log10(positives.min() ?? 1e-4))
        let yHi = Swift.max(Foundation.ceil(Foundation.log10(positives.max() ?? 1)), yLo + 1)
        func px(_ k: Int) -> Double { left + (n > 1 ? Double(k) / Double(n - 1) : 0.5) * (w - left - right) }
        func py(_ v: Double) -> Double {
            let l = Foundation.log10(Swift.max(v, Foundation.pow(10, yLo)))
            return h - bottom - (l - yLo) / (yHi - yLo) * (h - top - bottom)
        }
        var s = header(w, h)
        s += label(left, 22, "Layer output error vs points per channel (\(bits)-bit points, \(curves.count) layers)",
                   size: 15, weight: "bold")
        s += label(left, 40, "relative output error ||WX - QX||² / ||WX||² on the calibration inputs; lower is better",
                   size: 11, color: "#555")
        var e = yLo
        while e <= yHi {
            let y = py(Foundation.pow(10, e))
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(w - right))\" y2=\"\(f(y))\" stroke=\"#e3e3e3\"/>"
            s += label(left - 8, y + 4, "1e\(Int(e))", size: 11, anchor: "end")
            e += 1
        }
        for k in 0..<n {
            s += label(px(k), h - bottom + 18, "\(k + 1)", size: 12, anchor: "middle")
        }
        s += label((left + w - right) / 2, h - 16, "points per channel (each point: \(bits) bits per weight)",
                   size: 12, anchor: "middle")
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(w - left - right))\" height=\"\(f(h - top - bottom))\" "
            + "fill=\"none\" stroke=\"#999\"/>"
        // The band, then the median line with markers.
        let band = (0..<n).map { "\(f(px($0))),\(f(py(high[$0])))" } + (0..<n).reversed().map {
            "\(f(px($0))),\(f(py(low[$0])))"
        }
        s += "<polygon points=\"\(band.joined(separator: " "))\" fill=\"#1f77b4\" fill-opacity=\"0.18\"/>"
        s += "<polyline points=\"\((0..<n).map { "\(f(px($0))),\(f(py(median[$0])))" }.joined(separator: " "))\" "
            + "fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"3\"/>"
        for k in 0..<n {
            s += "<circle cx=\"\(f(px(k)))\" cy=\"\(f(py(median[k])))\" r=\"4.5\" fill=\"#1f77b4\">"
                + "<title>multipoint, \(k + 1) points: median \(String(format: "%.2e", median[k]))</title></circle>"
            s += label(px(k) + 7, py(median[k]) - 7, String(format: "%.1e", median[k]), size: 10, color: "#1f77b4")
        }
        for (value, color) in [(rtn, "#d62728"), (mse, "#ff7f0e")] where value > 0 {
            s += "<line x1=\"\(f(left))\" y1=\"\(f(py(value)))\" x2=\"\(f(w - right))\" y2=\"\(f(py(value)))\" "
                + "stroke=\"\(color)\" stroke-width=\"2\" stroke-dasharray=\"7,5\"/>"
        }
        // Legend.
        let lx = w - right + 14
        s += "<rect x=\"\(f(lx))\" y=\"\(f(top + 4))\" width=\"18\" height=\"10\" fill=\"#1f77b4\" fill-opacity=\"0.18\"/>"
        s += "<line x1=\"\(f(lx))\" y1=\"\(f(top + 9))\" x2=\"\(f(lx + 18))\" y2=\"\(f(top + 9))\" stroke=\"#1f77b4\" stroke-width=\"3\"/>"
        s += label(lx + 24, top + 13, "multipoint", size: 12)
        s += label(lx + 24, top + 27, "median, 25–75% band", size: 10, color: "#555")
        for (i, (value, color, name)) in [(rtn, "#d62728", "RTN"), (mse, "#ff7f0e", "MSE clip")].enumerated() {
            let y = top + 50 + Double(i) * 34
            s += "<line x1=\"\(f(lx))\" y1=\"\(f(y))\" x2=\"\(f(lx + 18))\" y2=\"\(f(y))\" stroke=\"\(color)\" "
                + "stroke-width=\"2\" stroke-dasharray=\"5,3\"/>"
            s += label(lx + 24, y + 4, "\(name) (1 point)", size: 12)
            s += label(lx + 24, y + 18, "median " + String(format: "%.1e", value), size: 10, color: "#555")
        }
        return s + "</svg>\n"
    }

    /// Stacked horizontal bars, one per layer (execution order): the fraction of its channels with 1, 2, 3, 4 and
    /// 5+ points, with each layer's average points per channel at the right.
    public static func pointsHistogramSVG(_ layers: [(name: String, pointCounts: [Int])], title: String) -> String {
        let labelW = 220.0, plotW = 420.0, rowH = 13.0, top = 70.0, bottom = 40.0, right = 70.0
        let h = top + rowH * Double(layers.count) + bottom, w = labelW + plotW + right
        let colors = ["#c6dbef", "#6baed6", "#2171b5", "#08306b", "#d62728"]
        let names = ["1", "2", "3", "4", "5+"]
        var s = header(w, h)
        s += label(10, 22, title, size: 15, weight: "bold")
        s += label(10, 40, "share of each layer's channels by number of points (execution order)", size: 11,
                   color: "#555")
        for (i, name) in names.enumerated() {
            let x = labelW + Double(i) * 70
            s += "<rect x=\"\(f(x))\" y=\"48\" width=\"14\" height=\"11\" fill=\"\(colors[i])\"/>"
            s += label(x + 18, 58, "\(name) point" + (name == "1" ? "" : "s"), size: 11)
        }
        s += label(labelW + plotW + 8, 58, "avg", size: 11)
        for (r, layer) in layers.enumerated() {
            let y = top + Double(r) * rowH
            let total = Double(Swift.max(layer.pointCounts.count, 1))
            var counts = [Double](repeating: 0, count: 5)
            for n in layer.pointCounts { counts[Swift.min(Swift.max(n, 1), 5) - 1] += 1 }
            s += label(labelW - 6, y + rowH - 3, layer.name, size: 10, anchor: "end")
            var x = labelW
            for (k, c) in counts.enumerated() where c > 0 {
                let width = c / total * plotW
                s += "<rect x=\"\(f(x))\" y=\"\(f(y + 1))\" width=\"\(f(width))\" height=\"\(f(rowH - 2))\" "
                    + "fill=\"\(colors[k])\"><title>\(ReportSVG.escape(layer.name)): \(Int(c)) of \(Int(total)) "
                    + "channels with \(names[k]) points</title></rect>"
                x += width
            }
            let avg = Double(layer.pointCounts.reduce(0, +)) / total
            s += label(labelW + plotW + 8, y + rowH - 3, String(format: "%.2f", avg), size: 10)
        }
        for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let x = labelW + t * plotW
            s += "<line x1=\"\(f(x))\" y1=\"\(f(top - 2))\" x2=\"\(f(x))\" y2=\"\(f(h - bottom + 2))\" stroke=\"#999\" "
                + "stroke-width=\"0.5\"/>"
            s += label(x, h - bottom + 16, "\(Int(t * 100))%", size: 10, anchor: "middle")
        }
        s += label(labelW + plotW / 2, h - 8, "share of channels", size: 11, anchor: "middle")
        return s + "</svg>\n"
    }

    private static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    private static func header(_ w: Double, _ h: Double) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(w))\" height=\"\(f(h))\" viewBox=\"0 0 \(f(w)) \(f(h))\" "
            + "font-family=\"Helvetica, Arial, sans-serif\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    }

    private static func label(_ x: Double, _ y: Double, _ text: String, size: Double, anchor: String = "start",
                              weight: String = "normal", color: String = "#222") -> String {
        "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(f(size))\" text-anchor=\"\(anchor)\" font-weight=\"\(weight)\" "
            + "fill=\"\(color)\">\(ReportSVG.escape(text))</text>"
    }
}
